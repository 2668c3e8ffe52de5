"""The Wren VM built a second time with AddressSanitizer and UBSan, as a
standalone runner (`vm/main_test.c`, same contract as `dynlan wren FILE`).

Every script under `scripts/` and a few stress scripts of our own run through
it; any sanitizer report (memory error, undefined behaviour, leak) fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

# The sanitized runner is built once per process: the tests that use it share one (pytest-xdist).
pytestmark = pytest.mark.xdist_group("wren-sanitized")

ROOT = Path(__file__).resolve().parents[2]
VM_DIR = ROOT / "wrenpy" / "src" / "wrenpy" / "vm"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
TIMEOUT = 60.0

SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:allocator_may_return_null=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    "LSAN_OPTIONS": "report_objects=0",
}
REPORT_MARKERS = (
    "AddressSanitizer",
    "LeakSanitizer",
    "runtime error:",
    "UndefinedBehaviorSanitizer",
)

_build_lock = threading.Lock()
_built: dict[str, Path] = {}


def build_sanitized_runner(directory: Path) -> Path:
    """Compiles the VM and `main_test.c` with -fsanitize=address,undefined (once per session)."""
    with _build_lock:
        if "runner" in _built:
            return _built["runner"]
        cc = shutil.which("gcc") or shutil.which("cc")
        assert cc is not None, "a C compiler is needed to build the sanitizer runner"
        output = directory / "wren_sanitized"
        sources = sorted(str(p) for p in VM_DIR.glob("*.c"))
        command = [
            cc,
            "-std=c99",
            "-O1",
            "-g",
            "-D_POSIX_C_SOURCE=200809L",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            "-o",
            str(output),
            *sources,
            "-lm",
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
        _built["runner"] = output
        return output


@dataclass(frozen=True, slots=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_script(runner: Path, script: Path, cwd: Path, env: dict[str, str] | None = None) -> Run:
    full_env = {**os.environ, **SANITIZER_ENV, **(env or {})}
    rel = os.path.relpath(script, cwd)
    proc = subprocess.run(
        [str(runner), rel],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        timeout=TIMEOUT,
    )
    return Run(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def assert_clean(run: Run, name: str) -> None:
    for marker in REPORT_MARKERS:
        assert marker not in run.stderr, f"{name}: sanitizer report\n{run.stderr[-4000:]}"
    assert run.returncode in (0, 65, 70), f"{name}: exit {run.returncode}\n{run.stderr[-2000:]}"


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sanitized_runner(tmp_path_factory.mktemp("wren-sanitized"))


def _suite_scripts() -> list[Path]:
    if not SCRIPTS.is_dir():
        return []
    return sorted(
        p
        for p in SCRIPTS.rglob("*.wren")
        if not any(part.startswith("_") for part in p.relative_to(SCRIPTS).parts)
    )


def test_suite_scripts_are_clean(runner: Path) -> None:
    scripts = _suite_scripts()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda s: (s, run_script(runner, s, ROOT)), scripts))
    for script, result in results:
        assert_clean(result, str(script.relative_to(ROOT)))


def test_suite_scripts_run_the_same_in_slices(runner: Path) -> None:
    # Paused every few instructions (a call or a loop), resumed, with garbage collected while paused.
    scripts = _suite_scripts()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        plain = list(pool.map(lambda s: run_script(runner, s, ROOT), scripts))
        sliced = list(pool.map(lambda s: run_script(runner, s, ROOT, {"WREN_SLICE": "7"}), scripts))
    for script, whole, in_slices in zip(scripts, plain, sliced, strict=True):
        name = str(script.relative_to(ROOT))
        assert_clean(in_slices, name)
        assert in_slices == whole, name


IMPORTS_SCRIPT = re.compile(r'import\s+"(?!meta"|random")')
"""An import of another script (the built-in modules hold nothing a run changes)."""


def test_suite_scripts_run_the_same_from_a_template(runner: Path) -> None:
    # Compiled once and run three times, each in a fresh module, with garbage collected between runs (how the
    # server runs a page): each run prints what the script alone prints. Scripts that import other scripts are
    # left out: an imported module stays loaded, and its top level runs in the first run only.
    scripts = [s for s in _suite_scripts() if not IMPORTS_SCRIPT.search(s.read_text(errors="replace"))]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        plain = list(pool.map(lambda s: run_script(runner, s, ROOT), scripts))
        template = list(pool.map(lambda s: run_script(runner, s, ROOT, {"WREN_TEMPLATE": "3"}), scripts))
    for script, once, thrice in zip(scripts, plain, template, strict=True):
        name = str(script.relative_to(ROOT))
        assert_clean(thrice, name)
        assert thrice.returncode == once.returncode, name
        if once.returncode == 65:
            assert thrice == once, name  # a compile error: reported once, nothing runs
        else:
            assert (thrice.stdout, thrice.stderr) == (once.stdout * 3, once.stderr * 3), name


STRESS: dict[str, tuple[str, dict[str, str]]] = {
    "deep_recursion_capped": (
        "var f = Fn.new {|f| f.call(f) }\nf.call(f)\n",
        {"WREN_MAX_HEAP": "20000000"},
    ),
    "string_doubling_capped": (
        'var s = "x"\nwhile (true) s = s + s\n',
        {"WREN_MAX_HEAP": "20000000"},
    ),
    "list_growth_capped": (
        "var l = []\nwhile (true) l.add([l.count])\n",
        {"WREN_MAX_HEAP": "20000000"},
    ),
    "huge_allocations": (
        'System.print(Fiber.new { "ab" * 1e12 }.try())\n'
        "System.print(Fiber.new { List.filled(1e12, 0) }.try())\n"
        "System.print(Fiber.new { [1, 2] * 1e12 }.try())\n",
        {"WREN_MAX_HEAP": "20000000"},
    ),
    "budget_infinite_loop": (
        "var i = 0\nwhile (true) {\n  i = i + 1\n}\n",
        {"WREN_BUDGET": "200000"},
    ),
    "budget_in_fibers": (
        "var f = Fiber.new {\n  while (true) Fiber.yield(1)\n}\nwhile (true) f.call()\n",
        {"WREN_BUDGET": "200000"},
    ),
    "fiber_chain": (
        "var make\nmake = Fn.new {|n| Fiber.new { n > 0 ? make.call(n - 1).call() : 0 } }\n"
        "System.print(make.call(100000).call())\n",
        {},
    ),
    "gc_churn": (
        "class Node {\n  construct new(l, r) {\n    _l = l\n    _r = r\n  }\n}\n"
        "var make\nmake = Fn.new {|d| d == 0 ? null : Node.new(make.call(d - 1), make.call(d - 1)) }\n"
        'for (i in 1..20) make.call(12)\nvar m = {}\nfor (i in 0...20000) m["k%(i)"] = [i]\n'
        'for (i in 0...20000) m.remove("k%(i)")\nSystem.gc()\nSystem.print(m.count)\n',
        {},
    ),
    "error_paths": (
        'import "meta" for Meta\nSystem.print(Meta.compile("var = ("))\n'
        'System.print(Fiber.new { Meta.eval("1 +") }.try())\n'
        "var f = Fiber.new { Fiber.yield(1) }\nf.call()\nf.call()\n"
        "System.print(Fiber.new { f.call() }.try())\n"
        'System.print(Fiber.new { "a".foo }.try())\n'
        "class A {\n  construct new() {}\n  [a, b] { a + b }\n}\nSystem.print(A.new()[1, 2])\n",
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(STRESS))
def test_stress_scripts_are_clean(runner: Path, tmp_path: Path, name: str) -> None:
    source, env = STRESS[name]
    script = tmp_path / f"{name}.wren"
    script.write_text(source)
    result = run_script(runner, script, tmp_path, env)
    assert_clean(result, name)
    if "WREN_MAX_HEAP" in env and name != "huge_allocations":
        assert result.returncode == 70
        assert result.stderr.startswith("Out of memory.")
    if "WREN_BUDGET" in env:
        assert result.stderr.startswith("Instruction budget exhausted.")
    if name == "fiber_chain":
        assert result.stdout == "0\n"
