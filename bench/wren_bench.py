"""Wren language benchmarks: `bench/wren/*.wren` through `dynlan wren`, best of 3.

Usage: bench/wren_bench.py [NAME ...]        (default: every benchmark)

Each benchmark runs as `python -m dynlan wren bench/wren/NAME.wren` from the
repository root, BENCH_WREN_RUNS (default 3) times. Like the reference's own
benchmark suite, every script measures itself: it reads `System.clock` first
and prints `elapsed: SECONDS` last, so the time inside the program leaves out
the process's start-up and the VM's teardown. The best of those times is
reported with the best wall time, and the rest of the output is checked
against the known result (a wrong result is reported, not timed). If a
reference interpreter (`wren_test` or `wren`, or the path in
BENCH_WREN_REFERENCE) is found, each benchmark runs through it too, and the
table shows dynlan's time inside the program over the reference's, and the
geometric mean of those ratios.

`run(report)` does the same from other code: `report` receives each output
line, and the results come back as a list of `BenchResult`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCH_DIR = HERE / "wren"
RUNS = int(os.environ.get("BENCH_WREN_RUNS", "3"))
TIMEOUT = 120.0

# The whole stdout of each benchmark: every one prints a deterministic result.
EXPECTED: dict[str, str] = {
    "binary_trees": (
        "stretch tree of depth 14 check: -1\n"
        "16384 trees of depth 4 check: -16384\n"
        "4096 trees of depth 6 check: -4096\n"
        "1024 trees of depth 8 check: -1024\n"
        "256 trees of depth 10 check: -256\n"
        "64 trees of depth 12 check: -64\n"
        "long lived tree of depth 13 check: -1\n"
    ),
    "binary_trees_gc": "trees built: 3840\nchecksum: 284160\n",
    "delta_blue": "22923000\n",
    "fib": "317811\n",
    "fibers": "100000\n375001250000\n",
    "for": "1999999000000\n1000000\n",
    "map_numeric": "125000250000\n250000\n",
    "map_string": "1800150000\n60000\n60000\n",
    "method_call": "true\ntrue\n",
    "string_equals": "750000\n750000\n",
}


_ELAPSED = re.compile(r"elapsed: ([0-9.e+-]+)\n\Z")


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float
    """Seconds from starting the process to its exit."""
    inside: float
    """Seconds the program measured itself (its `elapsed:` line)."""


@dataclass(frozen=True, slots=True)
class BenchResult:
    name: str
    seconds: float | None
    """Best time inside the program through dynlan, or None when the run failed."""
    reference_seconds: float | None = None
    note: str = ""
    wall_seconds: float | None = None
    """Best wall time of the whole process through dynlan."""

    def ratio(self) -> float | None:
        """dynlan's time inside the program over the reference's."""
        if self.seconds is None or self.reference_seconds is None:
            return None
        return max(self.seconds, 1e-4) / max(self.reference_seconds, 1e-4)


def dynlan_command() -> list[str]:
    return [sys.executable, "-m", "dynlan", "wren"]


def reference_command() -> list[str] | None:
    explicit = os.environ.get("BENCH_WREN_REFERENCE")
    if explicit:
        return [explicit]
    for name in ("wren_test", "wren"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _time_once(cmd: list[str], script: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run([*cmd, script], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    return time.perf_counter() - start, proc


def best_time(cmd: list[str], script: str, expected: str | None) -> tuple[Timing | None, str]:
    """The best of RUNS times (inside the program, and wall), or None and the reason the script failed."""
    best: Timing | None = None
    for _ in range(RUNS):
        try:
            seconds, proc = _time_once(cmd, script)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {TIMEOUT:g} s"
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or [""])[0]
            return None, f"exit code {proc.returncode}: {first}"
        found = _ELAPSED.search(proc.stdout)
        if found is None:
            return None, "no 'elapsed:' line at the end of the output"
        output = proc.stdout[: found.start()]
        if expected is not None and output != expected:
            return None, f"wrong output: {output.strip()[:60]!r}"
        inside = float(found.group(1))
        best = Timing(seconds, inside) if best is None else Timing(min(best.wall, seconds), min(best.inside, inside))
    return best, ""


def startup_time(cmd: list[str]) -> float:
    """The best wall time of a script that only prints its (empty) elapsed time."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.wren"
        empty.write_text('var start = System.clock\nSystem.print("elapsed: %(System.clock - start)")\n')
        timing, _ = best_time(cmd, str(empty), "")
    return timing.wall if timing is not None else 0.0


def benchmark_names() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.wren"))


def _format_seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def run(report: Callable[[str], None] = print, names: Sequence[str] | None = None) -> list[BenchResult]:
    """Runs the benchmarks, reports a table line by line, returns the results."""
    selected = list(names) if names else benchmark_names()
    unknown = [n for n in selected if not (BENCH_DIR / f"{n}.wren").exists()]
    if unknown:
        raise ValueError(f"unknown Wren benchmark(s): {', '.join(unknown)}")
    ours = dynlan_command()
    reference = reference_command()
    our_startup = startup_time(ours)
    ref_startup = startup_time(reference) if reference else 0.0

    report(f"Wren benchmarks, best of {RUNS} (seconds inside each program; wall time of the process)")
    report(f"  start-up and exit: dynlan {our_startup:.3f}"
           + (f", reference {ref_startup:.3f} ({reference[0]})" if reference else ", no reference interpreter found"))
    header = f"  {'benchmark':<18} {'dynlan':>8} {'(wall)':>8}"
    if reference:
        header += f" {'reference':>10} {'ratio':>7}"
    report(header)

    results = []
    for name in selected:
        script = f"bench/wren/{name}.wren"
        expected = EXPECTED.get(name)
        timing, note = best_time(ours, script, expected)
        ref_timing = None
        if reference:
            ref_timing, ref_note = best_time(reference, script, expected)
            if ref_note:
                note = f"{note}; reference: {ref_note}" if note else f"reference: {ref_note}"
        result = BenchResult(name, timing.inside if timing else None,
                             ref_timing.inside if ref_timing else None, note,
                             timing.wall if timing else None)
        results.append(result)
        line = f"  {name:<18} {_format_seconds(result.seconds):>8} {_format_seconds(result.wall_seconds):>8}"
        if reference:
            ratio = result.ratio()
            line += f" {_format_seconds(result.reference_seconds):>10} {'n/a' if ratio is None else f'{ratio:.2f}x':>7}"
        if note:
            line += f"  ({note})"
        report(line)

    if reference:
        ratios = [r for r in (res.ratio() for res in results) if r is not None]
        if ratios:
            geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            report(f"  geometric mean of dynlan/reference: {geomean:.2f}x over {len(ratios)} benchmark(s)")
    return results


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    try:
        results = run(print, names)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0 if all(r.seconds is not None for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
