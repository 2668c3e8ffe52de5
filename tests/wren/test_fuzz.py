"""Random and mutated Wren sources: every input ends in success, a compile error
or a runtime error, within an instruction budget and a memory cap. Never a
crash, a hang or a sanitizer report."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wren.test_sanitizers import SCRIPTS, assert_clean, build_sanitized_runner, run_script
from wrenpy import VM, Config, InterpretResult

# The sanitized runner is built once per process: the tests that use it share one (pytest-xdist).
pytestmark = pytest.mark.xdist_group("wren-sanitized")

BUDGET = 200_000
HEAP_CAP = 32 * 1024 * 1024

TOKENS = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ".",
    "..",
    "...",
    ",",
    "*",
    "/",
    "%",
    "#",
    "#!",
    "+",
    "-",
    "<<",
    ">>",
    "|",
    "||",
    "^",
    "&",
    "&&",
    "!",
    "~",
    "?",
    "=",
    "<",
    ">",
    "<=",
    ">=",
    "==",
    "!=",
    "as",
    "break",
    "class",
    "construct",
    "continue",
    "else",
    "false",
    "for",
    "foreign",
    "if",
    "import",
    "in",
    "is",
    "null",
    "return",
    "static",
    "super",
    "this",
    "true",
    "var",
    "while",
    "_f",
    "__s",
    "a",
    "b",
    "Foo",
    "List",
    "Fiber",
    "Fn",
    "System",
    "print",
    "new",
    "call",
    "yield",
    "0",
    "1",
    "2.5",
    "1e3",
    "0xff",
    '"s"',
    '"%(1)"',
    '"""raw"""',
    "\n",
    "\n",
    "\n",
    "// c\n",
    "/* c */",
    "Fiber.yield()",
    "Fn.new {",
    "|x|",
    "System.print(",
    "Fiber.new {",
    ".call()",
    ".try()",
    "\\",
]

FRAGMENTS = [
    "class Foo {\n  construct new() { _x = 1 }\n  x { _x }\n}\n",
    "var f = Fiber.new {|v|\n  Fiber.yield(v)\n}\nf.call(1)\n",
    "for (i in 0..3) System.print(i)\n",
    'var m = {1: [2, 3], "k": null}\nSystem.print(m)\n',
    'System.print("%("%(1 + 2)")")\n',
    "var l = [3, 1, 2]\nl.sort()\nSystem.print(l[0..-1])\n",
    "while (true) {}\n",
    'var s = "x"\nwhile (true) s = s + s\n',
]


def _corpus() -> list[str]:
    sources = []
    if SCRIPTS.is_dir():
        for path in sorted(SCRIPTS.rglob("*.wren"))[:400]:
            try:
                sources.append(path.read_text("utf-8"))
            except UnicodeDecodeError:
                continue
    return sources + FRAGMENTS


CORPUS = _corpus()


@st.composite
def mutated_source(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        if not source:
            break
        i = draw(st.integers(0, len(source) - 1))
        j = draw(st.integers(i, min(len(source), i + 40)))
        op = draw(st.integers(0, 3))
        if op == 0:
            source = source[:i] + source[j:]
        elif op == 1:
            source = source[:i] + draw(st.sampled_from(TOKENS)) + source[i:]
        elif op == 2:
            source = source[:i] + source[i:j] * 3 + source[j:]
        else:
            other = draw(st.sampled_from(CORPUS))
            source = source[:i] + other[: j - i] + source[j:]
    return source


token_soup = st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join)
raw_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=200)
any_source = st.one_of(mutated_source(), token_soup, raw_text)


def run_in_vm(source: str) -> InterpretResult:
    with VM(Config(instruction_budget=BUDGET, max_heap_size=HEAP_CAP, write=lambda _: None)) as vm:
        result = vm.interpret("fuzz", source)
        # The VM stays usable after whatever happened.
        vm.set_instruction_budget(BUDGET)
        assert vm.interpret("fuzz2", "System.print(1 + 1)") is InterpretResult.SUCCESS
        return result


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(any_source)
def test_binding_survives_random_sources(source: str) -> None:
    assert run_in_vm(source) in (
        InterpretResult.SUCCESS,
        InterpretResult.COMPILE_ERROR,
        InterpretResult.RUNTIME_ERROR,
    )


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sanitized_runner(tmp_path_factory.mktemp("wren-sanitized"))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(source=st.one_of(mutated_source(), token_soup))
def test_sanitized_runner_survives_mutations(runner: Path, tmp_path: Path, source: str) -> None:
    script = tmp_path / "fuzz.wren"
    script.write_text(source, "utf-8")
    result = run_script(
        runner,
        script,
        tmp_path,
        {"WREN_BUDGET": str(BUDGET), "WREN_MAX_HEAP": str(HEAP_CAP)},
    )
    assert_clean(result, source[:200])
