"""Optional py-spy sampling of the server during a measurement (`--profile DIR`)."""

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextmanager
def sampled(pid: int, out_dir: Path | None, name: str) -> Iterator[None]:
    """Record collapsed stacks of the thread holding the GIL (`--gil --format raw`: one line per stack with its count) to out_dir/name.txt."""
    binary = py_spy() if out_dir else None
    if binary is None or out_dir is None:
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--gil",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(out_dir / f"{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
