// Load dyad.fhir from a Dyad server acting as an NPM registry (FPL_REGISTRY), then read a profile's snapshot.
const { defaultPackageLoader, LoadStatus } = require('fhir-package-loader');
(async () => {
  const loader = await defaultPackageLoader({ log: (level, message) => console.error(`${level}: ${message}`) });
  const status = await loader.loadPackage('dyad.fhir', process.argv[2] || '0.1.0');
  const sd = loader.findResourceJSON('dyad-relationship-observation', { type: ['Profile'] });
  console.log(JSON.stringify({
    status, loaded: status === LoadStatus.LOADED,
    profiles: loader.findResourceInfos('*', { type: ['Profile'] }).length,
    snapshotElements: sd && sd.snapshot ? sd.snapshot.element.length : 0,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
