"""Wren language conformance: every script under `scripts/` states its own expected result.

Each `.wren` file is run as `python -m dynlan wren tests/wren/scripts/<folder>/<name>.wren`
from the repository root, so its main module is named `./tests/wren/scripts/<folder>/<name>`
(the contract of `dynlan wren`, which behaves like the reference interpreter's test host). Files in folders whose name
starts with `_` are helper modules for `import` and are not run on their own.

Expectations are comments in the script:

- `// expect: TEXT` -- the next line of stdout is TEXT. Lines are matched in order and
  stdout must hold nothing else. `// expect:` with nothing after it is an empty line.
- `// expect runtime error: MESSAGE` -- the script stops with this uncaught runtime
  error: the first stderr line (after any compile errors of imported modules) is
  MESSAGE, the next is the innermost stack frame `[<main module> line N] in ...` where N
  is the line holding the comment, and the exit code is 70.
- `// expect error` -- a compile error is reported on this line
  (`[<main module>.wren line N] Error...`); `// expect error line N` -- on line N instead.
  Only the set of line numbers is compared, not the messages; the exit code is 65.

A script with no error expectation must write nothing to stderr and exit with 0.

All selected scripts run as a batch when the first script's test starts, WREN_TEST_JOBS
(default 2) at a time, each in its own process; each test then checks its own result.
WREN_TEST_MODE picks how a script's process starts: `process` starts
`python -m dynlan wren RELPATH` for every script; `fork` (the default where fork
exists) forks this process and runs the same CLI entry point in the child, which
saves the interpreter's start-up (the bulk of the time) for each of hundreds of scripts.
A missing Wren runtime makes every test fail (the CLI exits with 2); nothing is skipped.
Set WREN_TEST_RUNNER to an executable (a reference `wren_test`, or a standalone build of
the VM) to run the same scripts through it instead of the project's CLI.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

# One process runs every script test: the batch of outcomes is made once, for all of them (pytest-xdist).
pytestmark = pytest.mark.xdist_group("wren-scripts")

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"
TIMEOUT = 10.0
"""Seconds before a script counts as hung."""
JOBS = int(os.environ.get("WREN_TEST_JOBS", "2"))
RUNNER = os.environ.get("WREN_TEST_RUNNER")
"""Another command-line runner with the same contract, instead of `python -m dynlan wren`."""
MODE = os.environ.get("WREN_TEST_MODE", "fork" if hasattr(os, "fork") and not RUNNER else "process")
"""`fork`: children of this process run the CLI's main; `process`: one new process per script."""

EXIT_OK = 0
EXIT_COMPILE_ERROR = 65
EXIT_RUNTIME_ERROR = 70

_EXPECT_OUTPUT = re.compile(r"// expect: ?(.*)")
_EXPECT_RUNTIME_ERROR = re.compile(r"// expect runtime error: (.+)")
_EXPECT_ERROR = re.compile(r"// expect error(?: line (\d+))?")
_COMPILE_ERROR = re.compile(r"\[(.+) line (\d+)\] Error")
_STACK_FRAME = re.compile(r"\[(.+) line (\d+)\] in ")


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one script says about its own run."""

    output: tuple[str, ...]
    compile_error_lines: frozenset[int]
    runtime_error: str | None
    runtime_error_line: int | None

    @property
    def exit_code(self) -> int:
        if self.compile_error_lines:
            return EXIT_COMPILE_ERROR
        if self.runtime_error is not None:
            return EXIT_RUNTIME_ERROR
        return EXIT_OK


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the runner saw: stdout and stderr split into lines, and the exit code."""

    stdout: tuple[str, ...]
    stderr: tuple[str, ...]
    exit_code: int | None
    timed_out: bool = False


def _script_paths() -> list[str]:
    paths = []
    for path in sorted(SCRIPTS.rglob("*.wren")):
        rel = path.relative_to(SCRIPTS)
        if any(part.startswith("_") for part in rel.parts[:-1]):
            continue
        paths.append(path.relative_to(ROOT).as_posix())
    return paths


def _source_lines(text: str) -> list[str]:
    # Split on LF only: CR is whitespace to Wren, and str.splitlines() would also
    # split on form feeds and other characters a script may hold in a comment.
    return [line.rstrip("\r") for line in text.split("\n")]


def parse_expectation(source: str) -> Expectation:
    output: list[str] = []
    error_lines: set[int] = set()
    runtime_error: str | None = None
    runtime_line: int | None = None
    for number, line in enumerate(_source_lines(source), start=1):
        if m := _EXPECT_OUTPUT.search(line):
            output.append(m.group(1))
        elif m := _EXPECT_RUNTIME_ERROR.search(line):
            assert runtime_error is None, f"line {number}: a script expects one runtime error at most"
            runtime_error, runtime_line = m.group(1), number
        elif m := _EXPECT_ERROR.search(line):
            error_lines.add(int(m.group(1)) if m.group(1) else number)
    return Expectation(tuple(output), frozenset(error_lines), runtime_error, runtime_line)


def _output_lines(data: bytes) -> tuple[str, ...]:
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(lines)


def run_script(relpath: str) -> Outcome:
    cmd = [RUNNER, relpath] if RUNNER else [sys.executable, "-m", "dynlan", "wren", relpath]
    for attempt in range(3):
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            return Outcome(_output_lines(exc.stdout or b""), _output_lines(exc.stderr or b""), None, timed_out=True)
        except OSError:
            # Starting a process from two threads at once occasionally fails with
            # EFAULT on some kernels; that says nothing about the script.
            if attempt == 2:
                raise
            continue
        return Outcome(_output_lines(proc.stdout), _output_lines(proc.stderr), proc.returncode)
    raise AssertionError("unreachable")


def module_name(relpath: str) -> str:
    """The main module's name for a script path (contract section 1.1)."""
    name = relpath.removesuffix(".wren")
    return name if name.startswith(("/", "./", "../")) else f"./{name}"


def check(relpath: str, expected: Expectation, outcome: Outcome) -> list[str]:
    """Every way the outcome differs from the expectation, as readable lines."""
    problems: list[str] = []
    if outcome.timed_out:
        return [f"timed out after {TIMEOUT:g} s"]
    main = module_name(relpath)

    if list(outcome.stdout) != list(expected.output):
        problems.append("stdout differs:")
        for i in range(max(len(outcome.stdout), len(expected.output))):
            want = expected.output[i] if i < len(expected.output) else "<nothing>"
            got = outcome.stdout[i] if i < len(outcome.stdout) else "<nothing>"
            mark = "  " if want == got else "! "
            problems.append(f"  {mark}line {i + 1}: expected {want!r}, got {got!r}")

    if expected.compile_error_lines:
        reported = set()
        for line in outcome.stderr:
            m = _COMPILE_ERROR.match(line)
            # `dynlan wren` names the file (`<main>.wren`), the reference runner the module.
            if m and m.group(1) in (main, f"{main}.wren"):
                reported.add(int(m.group(2)))
            elif not m:
                problems.append(f"unexpected stderr line: {line!r}")
        if reported != expected.compile_error_lines:
            problems.append(f"compile errors on lines {sorted(reported)}, expected {sorted(expected.compile_error_lines)}")
    elif expected.runtime_error is not None:
        # Compile errors of an imported module come before the error they cause.
        rest = list(outcome.stderr)
        while rest and _COMPILE_ERROR.match(rest[0]):
            rest.pop(0)
        message = rest[0] if rest else "<nothing>"
        if message != expected.runtime_error:
            problems.append(f"runtime error {message!r}, expected {expected.runtime_error!r}")
        frame = _STACK_FRAME.match(rest[1]) if len(rest) > 1 else None
        want_frame = f"[{main} line {expected.runtime_error_line}]"
        if frame is None:
            problems.append(f"no stack trace after the error message, expected {want_frame}")
        elif (frame.group(1), int(frame.group(2))) != (main, expected.runtime_error_line):
            problems.append(f"first stack frame {rest[1]!r}, expected {want_frame}")
    elif outcome.stderr:
        problems.append("unexpected stderr:")
        problems.extend(f"  {line}" for line in outcome.stderr)

    if outcome.exit_code != expected.exit_code:
        problems.append(f"exit code {outcome.exit_code}, expected {expected.exit_code}")
    if problems and outcome.stderr and not any(p.startswith("unexpected stderr") for p in problems):
        problems.append("stderr was:")
        problems.extend(f"  {line}" for line in outcome.stderr[:20])
    return problems


def _run_forked(relpaths: list[str]) -> dict[str, Outcome]:
    """Runs each script in a child forked from this process, JOBS at a time.

    The child runs exactly what `python -m dynlan wren RELPATH` runs -- the CLI's
    `main(["wren", RELPATH])` from the repository root, with stdout and stderr on
    fresh files -- but skips the interpreter's start-up, which dominates the time
    of a few hundred short scripts. Each child still is its own process: a crash
    or a hang (SIGALRM after TIMEOUT) takes only that script down.
    """
    from dynlan._cli import main as cli_main

    # Import the runtime once here, not in every child. If it is missing, each
    # child reports that through the CLI, as `python -m dynlan wren` would.
    with contextlib.suppress(ImportError):
        importlib.import_module("dynlan.runtimes.wren._cli")
    outcomes: dict[str, Outcome] = {}
    running: dict[int, tuple[str, float, int, int]] = {}
    queue = list(relpaths)
    while queue or running:
        while queue and len(running) < JOBS:
            relpath = queue.pop(0)
            out, err = _anonymous_file(), _anonymous_file()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                _child(cli_main, relpath, out, err)
            running[pid] = (relpath, time.monotonic(), out, err)
        finished = False
        for pid, (relpath, started, out, err) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                if time.monotonic() - started > TIMEOUT + 5:
                    os.kill(pid, signal.SIGKILL)
                continue
            finished = True
            del running[pid]
            code = os.waitstatus_to_exitcode(status)
            timed_out = code in (-signal.SIGALRM, -signal.SIGKILL)
            outcomes[relpath] = Outcome(_output_lines(_read_and_close(out)), _output_lines(_read_and_close(err)),
                                        None if timed_out else code, timed_out=timed_out)
        if not finished:
            time.sleep(0.002)
    return outcomes


def _anonymous_file() -> int:
    fd, path = tempfile.mkstemp(prefix="wren-script-")
    os.unlink(path)
    return fd


def _read_and_close(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _child(cli_main: Callable[[list[str]], int], relpath: str, out_fd: int, err_fd: int) -> NoReturn:
    code = 1
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(math.ceil(TIMEOUT))
        os.chdir(ROOT)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        encoding = sys.__stdout__.encoding if sys.__stdout__ else "utf-8"
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding, errors="strict")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=encoding, errors="backslashreplace")
        try:
            code = cli_main(["wren", relpath])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


ALL_SCRIPTS = _script_paths()


@pytest.fixture(scope="module")
def script_outcomes(request: pytest.FixtureRequest) -> Iterator[Callable[[str], Outcome]]:
    """The outcome of each selected script, run in a batch when the first test asks."""
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.path == Path(__file__)
        and hasattr(item, "callspec")
        and "script" in item.callspec.params
    ]
    if MODE == "fork":
        outcomes = _run_forked(selected)
        yield lambda relpath: outcomes[relpath] if relpath in outcomes else _run_forked([relpath])[relpath]
        return
    with ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="wren-script") as executor:
        futures = {relpath: executor.submit(run_script, relpath) for relpath in selected}
        try:
            yield lambda relpath: futures[relpath].result() if relpath in futures else run_script(relpath)
        finally:
            for future in futures.values():
                future.cancel()


def test_scripts_found() -> None:
    assert len(ALL_SCRIPTS) >= 150, f"only {len(ALL_SCRIPTS)} scripts under {SCRIPTS}"


@pytest.mark.parametrize("script", ALL_SCRIPTS, ids=[p.removeprefix("tests/wren/scripts/") for p in ALL_SCRIPTS])
def test_script(script: str, script_outcomes: Callable[[str], Outcome]) -> None:
    expected = parse_expectation((ROOT / script).read_text(encoding="utf-8", errors="replace"))
    problems = check(script, expected, script_outcomes(script))
    assert not problems, f"{script}:\n" + "\n".join(problems)
