// The guide's FHIR package as the server publishes it (/packages/...): its name and version from
// the ImplementationGuide, and its files read from the .tgz in the browser (the examples are in
// the package only; the FHIR API serves the conformance resources, not the examples).
import { fhir } from "./console.js";

let guidePromise = null;
let filesPromise = null;

// {title, description, packageId, version, download, examples: [{reference, name, profile}]}
export function guideInfo() {
  if (guidePromise === null) {
    guidePromise = fhir("ImplementationGuide?_count=10").then((response) => {
      const ig = response.status === 200 && response.body.entry && response.body.entry[0] && response.body.entry[0].resource;
      if (!ig) return null;
      const resources = (ig.definition && ig.definition.resource) || [];
      return {
        title: ig.title || ig.name,
        description: ig.description || "",
        packageId: ig.packageId,
        version: ig.version,
        download: `/packages/${encodeURIComponent(ig.packageId)}/${encodeURIComponent(ig.version)}`,
        examples: resources
          .filter((r) => r.exampleBoolean === true || r.exampleCanonical)
          .map((r) => ({ reference: r.reference.reference, name: r.name || r.reference.reference, profile: r.exampleCanonical || null })),
      };
    });
  }
  return guidePromise;
}

// Every file of the package: Map("package/example/Patient-x.json" -> text).
export function packageFiles() {
  if (filesPromise === null) {
    filesPromise = guideInfo().then(async (guide) => {
      if (!guide) return new Map();
      const response = await fetch(guide.download, { cache: "no-store" });
      if (!response.ok) return new Map();
      const tar = await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
      return readTar(new Uint8Array(tar));
    });
  }
  return filesPromise;
}

// An example of the package by its reference ("Observation/obs-1"), parsed, or null.
export async function packageExample(reference) {
  const [type, id] = reference.split("/");
  const files = await packageFiles();
  const text = files.get(`package/example/${type}-${id}.json`);
  return text === undefined ? null : JSON.parse(text);
}

// A ustar archive: 512-byte headers (name at 0, size in octal at 124, type at 156, prefix at 345),
// each file's bytes padded to 512.
function readTar(bytes) {
  const files = new Map();
  const decoder = new TextDecoder();
  const field = (at, length) => decoder.decode(bytes.subarray(at, at + length)).replace(/\0.*$/s, "");
  let at = 0;
  while (at + 512 <= bytes.length) {
    const name = field(at, 100);
    if (!name) break;
    const size = parseInt(field(at + 124, 12).trim() || "0", 8);
    const type = field(at + 156, 1);
    const prefix = field(at + 345, 155);
    const start = at + 512;
    if (type === "" || type === "0") {
      files.set(prefix ? `${prefix}/${name}` : name, decoder.decode(bytes.subarray(start, start + size)));
    }
    at = start + Math.ceil(size / 512) * 512;
  }
  return files;
}
