"""wrk (C, epoll, one thread does tens of thousands of requests/s on loopback) driven by a generated Lua script."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.workload import LoadResult, LoadSettings, Workload

MARKER = "BENCH_JSON "
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('%s{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"errors":%d}\\n',
    MARKER, summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def find_wrk(install: bool = True) -> str | None:
    """The wrk binary; with `install`, try Debian's package once when it is missing (we run as root)."""
    found = shutil.which("wrk")
    if found or not install or not shutil.which("apt-get"):
        return found
    print("wrk not found: trying `apt-get install -y wrk` ...", flush=True)
    for command in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=300)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def wrk_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _lua_string(data: bytes | str) -> str:
    text = data.decode() if isinstance(data, bytes) else data
    level = "=" * 4
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def lua_script(workload: Workload) -> str:
    """Pre-formats every request once per thread; `request()` hands them out in rotation."""
    rows = []
    for req in workload.requests:
        body = _lua_string(req.body) if req.body is not None else "nil"
        rows.append(f"  {{{_lua_string(req.method)}, {_lua_string(req.path)}, {body}}},")
    return "\n".join(
        [
            f'MARKER = "{MARKER}"',
            "local spec = {",
            *rows,
            "}",
            "local formatted = {}",
            "local n = 0",
            "init = function(args)",
            f'  local headers = {{["Content-Type"] = "{workload.content_type}", ["Accept"] = "application/fhir+json"}}',
            "  for i, r in ipairs(spec) do",
            "    if r[3] then formatted[i] = wrk.format(r[1], r[2], headers, r[3])",
            "    else formatted[i] = wrk.format(r[1], r[2], {Accept = headers.Accept}) end",
            "  end",
            "  n = math.random(#formatted) - 1",
            "end",
            "request = function()",
            "  n = n % #formatted + 1",
            "  return formatted[n]",
            "end",
            _DONE,
        ]
    )


def _run_wrk(binary: str, base_url: str, script: Path, connections: int, duration_s: float) -> dict[str, int]:
    command = [
        binary,
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration_s))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base_url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration_s + 120)
    for line in out.stdout.splitlines():
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def run(binary: str, base_url: str, workload: Workload, settings: LoadSettings) -> LoadResult:
    """One timed run of `settings.duration_s` (wrk cannot stop on a request count)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / f"{workload.name}.lua"
        script.write_text(lua_script(workload))
        raw = _run_wrk(binary, base_url, script, settings.concurrency, settings.duration_s)
    if raw["requests"] == 0:  # every request outlived the run: say so rather than report 0 ms
        bound_ms = raw["duration_us"] / 1e3
        return LoadResult(
            0, raw["duration_us"] / 1e6, bound_ms, bound_ms, bound_ms, raw["errors"], "wrk", censored=True
        )
    return LoadResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        errors=raw["errors"],
        client="wrk",
    )
