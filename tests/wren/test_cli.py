"""`dynlan wren FILE` start-up: what the command loads, and its exit codes (docs/wren.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run the console entry point in a fresh interpreter, then list what it imported.
_PROBE = """
import json, sys
from dynlan._cli import main
code = main(["wren", sys.argv[1]])
sys.stdout.flush()
sys.stderr.write(json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""

NOT_LOADED = ("argparse", "logging", "dataclasses", "inspect", "trio", "importlib.metadata",
              "dynlan.server", "dynlan.app", "dynlan.host", "dynlan.config",
              "dynlan.runtimes._registry", "dynlan.runtimes._interface", "dynlan.runtimes.wren._runtime")


def _probe(script: Path) -> tuple[str, int, list[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, int(report["code"]), list(report["modules"])


def test_running_a_script_loads_only_the_vm_binding(tmp_path: Path) -> None:
    script = tmp_path / "hello.wren"
    script.write_text('System.print("hello")\n')
    stdout, code, modules = _probe(script)
    assert (stdout, code) == ("hello\n", 0)
    assert "wrenpy._wren_cffi" in modules
    loaded = [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_LOADED)]
    assert loaded == []


def test_exit_codes(tmp_path: Path) -> None:
    cases = {"ok": ("System.print(1)\n", 0), "compile": ("var = 1\n", 65),
             "runtime": ('Fiber.abort("no")\n', 70)}
    for name, (source, expected) in cases.items():
        (tmp_path / f"{name}.wren").write_text(source)
        done = subprocess.run([sys.executable, "-m", "dynlan", "wren", f"{name}.wren"], capture_output=True,
                              text=True, cwd=tmp_path, timeout=60)
        assert done.returncode == expected, (name, done.stderr)
    missing = subprocess.run([sys.executable, "-m", "dynlan", "wren", "missing.wren"], capture_output=True,
                             text=True, cwd=tmp_path, timeout=60)
    assert missing.returncode == 66
    assert missing.stderr == 'Could not open file "missing.wren".\n'
    compile_error = subprocess.run([sys.executable, "-m", "dynlan", "wren", "compile.wren"], capture_output=True,
                                   text=True, cwd=tmp_path, timeout=60)
    assert compile_error.stderr.splitlines()[0] == "[./compile.wren line 1] Error at '=': Expect variable name."


def test_error_format(tmp_path: Path) -> None:
    """Compile errors name the file with `.wren` (an import's own file); stack frames name the module."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "broken.wren").write_text("var x = (\n")
    (tmp_path / "importer.wren").write_text('System.print("a")\nimport "./lib/broken"\n')
    (tmp_path / "runtime.wren").write_text('class A {\n  static f() { Fiber.abort("boom") }\n}\nA.f()\n')
    (tmp_path / "operator.wren").write_text("var a = 1\nvar b = a +\n\n")

    def run(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dynlan", "wren", name], capture_output=True, text=True,
                              cwd=tmp_path, timeout=60)

    imported = run("importer.wren")
    assert (imported.returncode, imported.stdout) == (70, "a\n")
    assert imported.stderr.splitlines() == [
        "[./lib/broken.wren line 2] Error at end of file: Expected expression.",
        "[./lib/broken.wren line 2] Error at end of file: Expect ')' after expression.",
        "Could not compile module './lib/broken'.",
        "[./importer line 2] in (script)",
    ]
    runtime = run("runtime.wren")
    assert (runtime.returncode, runtime.stderr.splitlines()) == (
        70, ["boom", "[./runtime line 2] in f()", "[./runtime line 4] in (script)"])
    operator = run("./operator.wren")
    assert (operator.returncode, operator.stderr) == (
        65, "[./operator.wren line 4] Error at end of file: Expected expression.\n")
