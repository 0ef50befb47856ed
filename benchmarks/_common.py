"""Small timing helpers shared by the benchmark scripts.

* :func:`timeit` and :func:`row`: medians of repeats in process, one aligned line per result;
* :func:`measure_command`: one command run as the user runs it, in its own process,
  with its wall time and peak resident memory; :func:`parse_timings` reads the
  ``timings: {json}`` line a command prints with ``--timings``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def timeit(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeat`` runs, and its last result."""
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def row(name: str, seconds: float, baseline: float | None = None, extra: str = "") -> str:
    """One aligned output line: name, seconds, ratio to the baseline."""
    ratio = f"{seconds / baseline:8.2f}× baseline" if baseline else " " * 17
    return f"{name:52s} {seconds:9.3f} s  {ratio}  {extra}"


# ---------------------------------------------------------------------------
# one command as the user runs it: wall time and peak memory of that command alone
# ---------------------------------------------------------------------------

# The tiny process between the benchmark and the measured command. It starts the
# command, watches its resident memory (and stops it past the limit, so one
# runaway run cannot take the shared machine's memory), and reports the wall time
# and RUSAGE_CHILDREN's ru_maxrss: the peak of that command's own process tree,
# untouched by the benchmark's memory or by earlier runs. ru_maxrss is the largest
# single process of the tree, not a sum, should the command ever start workers.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
result_path, out_path, err_path, limit_kb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmd = sys.argv[5:]

def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

killed = False
with open(out_path, "wb") as out, open(err_path, "wb") as err:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err)
    while proc.poll() is None:
        if limit_kb and rss_kb(proc.pid) > limit_kb:
            proc.kill()
            killed = True
        time.sleep(0.1)
    wall = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(result_path, "w") as fh:
    json.dump({"rc": proc.returncode, "wall_s": wall, "peak_mb": peak_kb / 1024, "killed": killed}, fh)
"""


@dataclass(frozen=True)
class CommandRun:
    """What one measured command cost: exit status, wall seconds, peak resident memory (MB), its output."""

    cmd: tuple[str, ...]
    rc: int
    wall_s: float
    peak_mb: float
    killed: bool
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command ran to the end with status 0 or 1 (1: it ran and reported problems)."""
        return not self.killed and self.rc in (0, 1)

    def last_error_line(self) -> str:
        """The last non-empty line of stderr (or stdout), for a one-line failure note."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return lines[-1][:200]
        return ""


def measure_command(cmd: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                    mem_limit_mb: float | None = None) -> CommandRun:
    """Run ``cmd`` through the measuring wrapper; wall time and peak RSS are that command's alone.

    ``mem_limit_mb``: stop the command once its resident memory exceeds this (``killed`` is then true).
    """
    with tempfile.TemporaryDirectory(prefix="bench-cmd-") as tmp:
        result, out, err = (str(Path(tmp) / name) for name in ("result.json", "stdout.txt", "stderr.txt"))
        limit_kb = str(int(mem_limit_mb * 1024)) if mem_limit_mb else "0"
        subprocess.run([sys.executable, "-c", _WRAPPER, result, out, err, limit_kb, *cmd], env=env, cwd=cwd,
                       check=True)
        facts = json.loads(Path(result).read_text(encoding="utf-8"))
        return CommandRun(cmd=tuple(cmd), rc=int(facts["rc"]), wall_s=float(facts["wall_s"]),
                          peak_mb=float(facts["peak_mb"]), killed=bool(facts["killed"]),
                          stdout=Path(out).read_text(encoding="utf-8", errors="replace"),
                          stderr=Path(err).read_text(encoding="utf-8", errors="replace"))


def parse_timings(text: str) -> dict[str, float] | None:
    """Seconds per stage from the last ``timings: {json}`` line of a command's stderr, or None when absent."""
    found = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("timings:"):
            try:
                data = json.loads(line[len("timings:"):])
            except ValueError:
                continue
            if isinstance(data, dict):
                found = {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}
    return found
