"""`dynlan wren FILE`: runs a script under the runner contract (docs/wren-language.md §1).

Module names are the path without `.wren` (with `./` in front of relative
paths); relative imports are joined to the importer's folder and read from
`<name>.wren` under the working folder; other names are built-in modules.
A compile error names the file it is in (`[./test/foo.wren line 3] Error ...`);
a stack frame names the module, as the reference does (`[./test/foo line 3] in ...`).
Exit codes: 0 ok, 65 compile error, 70 runtime error, 64 usage, 66 no file.
"""

from __future__ import annotations

import posixpath
import sys

from wrenpy._binding import VM, Config, ErrorReport, ErrorType, InterpretResult

EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_SOFTWARE = 70

BUILTIN_MODULES = frozenset({"meta", "random"})


def module_name(path: str) -> str:
    """`test/lang/foo.wren` -> `./test/lang/foo`."""
    name = path[:-5] if path.endswith(".wren") else path
    if not (name.startswith("/") or name.startswith("./") or name.startswith("../")):
        name = "./" + name
    return name


def source_file(module: str | None) -> str:
    """The file a module's source was read from: `./test/foo` -> `./test/foo.wren`."""
    if module is None:
        return "<unknown>"
    return module if module in BUILTIN_MODULES else module + ".wren"


def normalize(path: str) -> str:
    """Folds `.` and `..` components, keeping a leading `./`."""
    absolute = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append(part)
            continue
        parts.append(part)
    joined = "/".join(parts)
    if absolute:
        return "/" + joined
    if parts and parts[0] == "..":
        return joined
    return "./" + joined


def resolve_module(importer: str, name: str) -> str:
    if not (name.startswith("./") or name.startswith("../")):
        return name
    return normalize(posixpath.join(posixpath.dirname(importer), name))


def load_module(name: str) -> str | None:
    try:
        with open(name + ".wren", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _write(text: str) -> None:
    sys.stdout.write(text)


def _error(report: ErrorReport) -> None:
    if report.type is ErrorType.COMPILE:
        sys.stderr.write(f"[{source_file(report.module)} line {report.line}] {report.message}\n")
    elif report.type is ErrorType.RUNTIME:
        sys.stderr.write(f"{report.message}\n")
    else:
        sys.stderr.write(f"[{report.module} line {report.line}] in {report.message}\n")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("Usage: dynlan wren FILE\n")
        return EX_USAGE
    path = argv[0]
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError:
        sys.stderr.write(f'Could not open file "{path}".\n')
        return EX_NOINPUT
    config = Config(
        write=_write,
        error=_error,
        resolve_module=resolve_module,
        load_module=load_module,
    )
    with VM(config) as vm:
        result = vm.interpret(module_name(path), source)
    sys.stdout.flush()
    if result is InterpretResult.COMPILE_ERROR:
        return EX_DATAERR
    if result is InterpretResult.RUNTIME_ERROR:
        return EX_SOFTWARE
    return 0
