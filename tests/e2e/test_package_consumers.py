"""Tools other than Dyad load the guide's package from a running Dyad acting as an NPM registry.

npm (`npm pack`, which resolves `dist.tarball` and checks `dist.integrity`) and HL7/MITRE's
fhir-package-loader (the loader SUSHI uses, pointed at the server with FPL_REGISTRY). The loader
is installed by `make package-consumers` into tests/e2e/package_consumers/node_modules; without
node, npm or that install the tests are skipped, and under CI=true they fail instead.
"""

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningServer

CONSUMERS = Path(__file__).parent / "package_consumers"


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is needed for the package consumer tests")
        pytest.skip(f"{tool} is not installed")
    return found


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_npm_fetches_the_package_from_the_server_as_a_registry(server: RunningServer, tmp_path: Path) -> None:
    npm = _require("npm")
    result = subprocess.run(
        [npm, "pack", "dyad.fhir@0.1.0", "--registry", f"{server.base}/packages/", "--cache", str(tmp_path / "cache")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(tmp_path / "dyad.fhir-0.1.0.tgz") as archive:
        member = archive.extractfile("package/StructureDefinition-dyad-relationship-observation.json")
        assert member is not None
        assert json.loads(member.read())["snapshot"]["element"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_fhir_package_loader_loads_the_package_with_its_snapshots(server: RunningServer, tmp_path: Path) -> None:
    node = _require("node")
    if not (CONSUMERS / "node_modules" / "fhir-package-loader").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("run `make package-consumers` first")
        pytest.skip("fhir-package-loader is not installed (make package-consumers)")
    env = {**os.environ, "HOME": str(tmp_path), "FPL_REGISTRY": f"{server.base}/packages/"}
    result = subprocess.run(
        [node, str(CONSUMERS / "fpl_load.js"), "0.1.0"],
        cwd=CONSUMERS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["loaded"] is True, result.stderr
    assert loaded["snapshotElements"] > 100
    assert (tmp_path / ".fhir" / "packages" / "dyad.fhir#0.1.0" / "package" / "package.json").is_file()
