"""wrenpy: the Wren VM from Python: handles, slots, foreign code, callbacks and budgets."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from wrenpy import (
    VERSION,
    VM,
    Config,
    ErrorType,
    ForeignClass,
    InterpretResult,
    SlotType,
    WrenError,
)


def run(source: str, **config: Any) -> tuple[VM, InterpretResult]:
    vm = VM(Config(**config))
    return vm, vm.interpret("main", source)


def test_version() -> None:
    assert VERSION == 4000


def test_print_goes_to_output() -> None:
    vm, result = run('System.print("hi")\nSystem.write(1 + 2)')
    assert result is InterpretResult.SUCCESS
    assert "".join(vm.output) == "hi\n3"
    vm.close()


def test_write_and_error_callbacks() -> None:
    written: list[str] = []
    errors: list[Any] = []
    vm, result = run(
        'System.print(1)\nFiber.abort("no")', write=written.append, error=errors.append
    )
    assert result is InterpretResult.RUNTIME_ERROR
    assert written == ["1\n"]  # a line is one write (one call into the host)
    assert [(e.type, e.message) for e in errors] == [
        (ErrorType.RUNTIME, "no"),
        (ErrorType.STACK_TRACE, "(script)"),
    ]
    assert errors[1].module == "main" and errors[1].line == 2
    vm.close()


def test_compile_errors_are_reported_per_line() -> None:
    vm, result = run("var a = \nvar b = )\nvar c = 1\nvar d = (")
    assert result is InterpretResult.COMPILE_ERROR
    lines = {e.line for e in vm.errors if e.type is ErrorType.COMPILE}
    assert 2 in lines and 3 not in lines
    vm.close()


def test_module_variables_persist_between_interprets() -> None:
    with VM() as vm:
        assert vm.interpret("m", "var x = 41") is InterpretResult.SUCCESS
        assert vm.interpret("m", "x = x + 1\nSystem.print(x)") is InterpretResult.SUCCESS
        assert vm.output == ["42\n"]
        assert vm.has_module("m") and vm.has_variable("m", "x")
        assert not vm.has_variable("m", "nope")


def test_call_handle_and_slots() -> None:
    with VM() as vm:
        vm.interpret(
            "main", 'class Calc {\n static add(a, b) { a + b }\n static join(l) { l.join(",") }\n}'
        )
        vm.ensure_slots(3)
        vm.get_variable("main", "Calc", 0)
        calc = vm.get_slot_handle(0)
        add = vm.make_call_handle("add(_,_)")
        vm.set_slot_handle(0, calc)
        vm.set_slot_double(1, 2)
        vm.set_slot_double(2, 40)
        assert vm.call(add) is InterpretResult.SUCCESS
        assert vm.get_slot_double(0) == 42
        assert vm.call_method(calc, "join(_)", [1, "a", True, None]) == "1,a,true,null"
        add.release()
        with pytest.raises(WrenError):
            vm.call(add)
        vm.interpret("main", "class Under {\n  static my_method(a) { a * 2 }\n}")
        vm.ensure_slots(2)
        vm.get_variable("main", "Under", 0)
        under = vm.get_slot_handle(0)
        assert vm.call_method(under, "my_method(_)", 21) == 42
        under.release()
        calc.release()


def test_slot_types_and_bytes() -> None:
    with VM() as vm:
        vm.ensure_slots(6)
        vm.set_slot_bool(0, True)
        vm.set_slot_double(1, 1.5)
        vm.set_slot_bytes(2, b"a\0b\xff")
        vm.set_slot_null(3)
        vm.set_slot_new_list(4)
        vm.set_slot_new_map(5)
        kinds = [vm.get_slot_type(i) for i in range(6)]
        assert kinds == [
            SlotType.BOOL,
            SlotType.NUM,
            SlotType.STRING,
            SlotType.NULL,
            SlotType.LIST,
            SlotType.MAP,
        ]
        assert vm.get_slot_bytes(2) == b"a\0b\xff"
        with pytest.raises(IndexError):
            vm.get_slot_bool(6)


def test_list_and_map_slots() -> None:
    with VM() as vm:
        vm.ensure_slots(4)
        vm.set_slot_new_list(0)
        for value in (1, 2, 3):
            vm.set_slot_double(1, value)
            vm.insert_in_list(0, -1, 1)
        vm.set_slot_double(1, 0)
        vm.insert_in_list(0, 0, 1)
        assert vm.get_list_count(0) == 4
        vm.get_list_element(0, -1, 2)
        assert vm.get_slot_double(2) == 3
        assert vm.get_slot(0) == [0, 1, 2, 3]
        vm.set_slot_new_map(0)
        vm.set_slot_string(1, "k")
        vm.set_slot_string(2, "v")
        vm.set_map_value(0, 1, 2)
        assert vm.get_map_count(0) == 1
        assert vm.get_map_contains_key(0, 1)
        vm.remove_map_value(0, 1, 3)
        assert vm.get_slot_string(3) == "v"
        assert vm.get_map_count(0) == 0


def test_foreign_methods_and_python_exceptions() -> None:
    def double(vm: VM) -> None:
        vm.set_slot_double(0, vm.get_slot_double(1) * 2)

    def boom(vm: VM) -> None:
        raise ValueError("bad input")

    config = Config(
        foreign_methods={
            ("main", "Ext", True, "double(_)"): double,
            ("main", "Ext", True, "boom()"): boom,
        }
    )
    with VM(config) as vm:
        source = """
class Ext {
  foreign static double(x)
  foreign static boom()
}
System.print(Ext.double(21))
System.print(Fiber.new { Ext.boom() }.try())
Ext.boom()
"""
        assert vm.interpret("main", source) is InterpretResult.RUNTIME_ERROR
        assert vm.output[:2] == ["42\n", "ValueError: bad input\n"]
        assert vm.errors[0].message == "ValueError: bad input"


def test_missing_foreign_method_is_a_runtime_error() -> None:
    vm, result = run("class A {\n foreign static nope()\n}")
    assert result is InterpretResult.RUNTIME_ERROR
    assert (
        vm.errors[0].message
        == "Could not find foreign method 'nope()' for class A in module 'main'."
    )
    vm.close()


class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y


def test_foreign_class_with_finalizer() -> None:
    finalized: list[Point] = []

    def allocate(vm: VM) -> Point:
        return Point(vm.get_slot_double(1), vm.get_slot_double(2))

    def x(vm: VM) -> None:
        point = vm.get_slot_foreign(0)
        assert isinstance(point, Point)
        vm.set_slot_double(0, point.x)

    config = Config(
        foreign_classes={("main", "Point"): ForeignClass(allocate, finalized.append)},
        foreign_methods={("main", "Point", False, "x"): x},
    )
    vm = VM(config)
    source = """
foreign class Point {
  construct new(x, y) {}
  foreign x
}
for (i in 1..10) Point.new(i, 0)
var keep = Point.new(7, 8)
System.print(keep.x)
"""
    assert vm.interpret("main", source) is InterpretResult.SUCCESS
    assert vm.output == ["7\n"]
    vm.collect_garbage()
    assert len(finalized) == 10
    vm.close()
    assert len(finalized) == 11


def test_module_callbacks_and_resolution_errors() -> None:
    modules = {"lib": "var Answer = 42"}
    config = Config(
        resolve_module=lambda importer, name: None if name == "bad" else name,
        load_module=modules.get,
    )
    with VM(config) as vm:
        assert (
            vm.interpret("main", 'import "lib" for Answer\nSystem.print(Answer)')
            is InterpretResult.SUCCESS
        )
        assert vm.output == ["42\n"]
        assert vm.interpret("main", 'import "bad"') is InterpretResult.RUNTIME_ERROR
        assert vm.errors[0].message == "Could not resolve module 'bad' imported from 'main'."
        assert vm.interpret("main", 'import "missing"') is InterpretResult.RUNTIME_ERROR
        assert vm.errors[2].message == "Could not load module 'missing'."


def test_builtin_modules() -> None:
    with VM() as vm:
        source = 'import "random" for Random\nimport "meta" for Meta\nSystem.print(Random.new(1).int(5) < 5)\nSystem.print(Meta.compileExpression("1 + 2").call())'
        assert vm.interpret("main", source) is InterpretResult.SUCCESS
        assert vm.output == ["true\n", "3\n"]


def test_instruction_budget() -> None:
    with VM(Config(instruction_budget=100_000)) as vm:
        assert vm.interpret("main", "while (true) {}") is InterpretResult.RUNTIME_ERROR
        assert vm.errors[0].message == "Instruction budget exhausted."
        assert vm.instruction_budget == 0
        vm.set_instruction_budget(None)
        assert vm.interpret("main", "System.print(1)") is InterpretResult.SUCCESS
        assert vm.statistics().instructions > 100_000


def test_budget_error_is_catchable_but_does_not_escape() -> None:
    with VM(Config(instruction_budget=50_000)) as vm:
        source = "var e = Fiber.new {\n  while (true) {}\n}.try()\nSystem.print(e)\nwhile (true) {}"
        assert vm.interpret("main", source) is InterpretResult.RUNTIME_ERROR
        assert vm.errors[0].message == "Instruction budget exhausted."


def test_memory_cap() -> None:
    with VM(Config(max_heap_size=8 * 1024 * 1024)) as vm:
        result = vm.interpret("main", 'var l = []\nwhile (true) l.add("x" * 1000)')
        assert result is InterpretResult.RUNTIME_ERROR
        assert vm.errors[0].message == "Out of memory."
        assert (
            vm.interpret("main", 'System.print("x" * 100000000)') is InterpretResult.RUNTIME_ERROR
        )
        assert vm.errors[-2].message == "Out of memory."
        vm.errors.clear()
        # The VM is still usable once the garbage is gone.
        assert vm.interpret("main", "l = null\nSystem.print(1)") is InterpretResult.SUCCESS, (
            vm.errors
        )


def test_many_vms_are_independent() -> None:
    vms = [VM() for _ in range(20)]
    for i, vm in enumerate(vms):
        vm.interpret("main", f"var x = {i}")
    for i, vm in enumerate(vms):
        vm.interpret("main", "System.print(x)")
        assert vm.output == [str(i) + "\n"]
        vm.close()


def test_remove_module() -> None:
    with VM() as vm:
        for i in range(200):
            assert (
                vm.interpret(f"request{i}", f'var Page = "{"x" * 1000}"') is InterpretResult.SUCCESS
            )
            assert vm.remove_module(f"request{i}")
        vm.collect_garbage()
        stats = vm.statistics()
        assert stats.modules == 0
        assert stats.heap_bytes < 2 * 1024 * 1024
        assert stats.gc_runs >= 1
        assert not vm.remove_module("request0")


def test_suspend_and_resume_fiber() -> None:
    with VM() as vm:
        source = 'var F = Fiber.new {\n  System.print("a")\n  Fiber.suspend()\n  System.print("b")\n}\nF.call()\n'
        assert vm.interpret("main", source) is InterpretResult.SUCCESS
        assert vm.output == ["a\n"]
        vm.ensure_slots(1)
        vm.get_variable("main", "F", 0)
        with vm.make_call_handle("call()") as call:
            assert vm.call(call) is InterpretResult.SUCCESS
        assert vm.output == ["a\n", "b\n"]


def test_slices_pause_and_resume_with_other_code_in_between() -> None:
    with VM() as vm:
        vm.set_slice(10_000)
        source = "var total = 0\nfor (i in 1..100000) total = total + i\nSystem.print(total)"
        result = vm.interpret("long", source)
        pauses = 0
        while result is InterpretResult.PAUSED:
            pauses += 1
            with vm.get_slot_handle(0) as fiber:
                assert vm.interpret(f"other{pauses}", "System.print(1)") is InterpretResult.SUCCESS
                result = vm.resume(fiber)
        assert result is InterpretResult.SUCCESS, vm.errors
        assert pauses > 10
        assert vm.output == ["1\n"] * pauses + ["5000050000\n"]
        vm.set_slice(None)
        assert vm.interpret("once", "for (i in 1..100000) {}") is InterpretResult.SUCCESS


def test_budget_ends_a_sliced_run_and_a_paused_fiber_is_the_hosts() -> None:
    with VM() as vm:
        vm.set_slice(1_000)
        vm.set_instruction_budget(500)
        assert vm.interpret("main", "while (true) {}") is InterpretResult.RUNTIME_ERROR
        assert vm.errors[0].message == "Instruction budget exhausted."
        vm.errors.clear()
        vm.set_instruction_budget(None)
        assert vm.interpret("spin", "var F = Fiber.current\nwhile (true) {}") is InterpretResult.PAUSED
        with vm.get_slot_handle(0) as fiber:
            assert vm.interpret("thief", 'import "spin" for F\nF.transfer()') is InterpretResult.RUNTIME_ERROR
            assert vm.errors[0].message == "Cannot run a fiber the host has paused."
            assert vm.resume(fiber) is InterpretResult.PAUSED  # still the host's, still spinning
            vm.get_slot_handle(0).release()
        with vm.make_call_handle("x") as not_a_fiber:
            assert vm.resume(not_a_fiber) is InterpretResult.RUNTIME_ERROR


def test_reentry_from_foreign_method_is_refused() -> None:
    seen: list[str] = []

    def reenter(vm: VM) -> None:
        try:
            vm.interpret("main", "1")
        except WrenError as exc:
            seen.append(str(exc))

    config = Config(foreign_methods={("main", "A", True, "f()"): reenter})
    with VM(config) as vm:
        assert (
            vm.interpret("main", "class A {\n foreign static f()\n}\nA.f()")
            is InterpretResult.SUCCESS
        )
    assert seen and "re-entrant" in seen[0]


def test_user_data_and_deep_fibers() -> None:
    with VM(Config(user_data={"k": 1})) as vm:
        assert vm.user_data == {"k": 1}
        source = """
var depth = 0
var make
make = Fn.new {|n|
  return Fiber.new {
    depth = depth + 1
    if (n > 0) make.call(n - 1).call()
  }
}
make.call(100000).call()
System.print(depth)
"""
        assert vm.interpret("main", source) is InterpretResult.SUCCESS
        assert vm.output == ["100001\n"]


def test_closed_vm_and_garbage() -> None:
    vm = VM()
    handle = vm.make_call_handle("x")
    vm.close()
    assert vm.closed
    assert handle.released
    with pytest.raises(WrenError):
        vm.interpret("main", "1")
    del vm
    gc.collect()


def test_meta_lists_only_the_callers_own_module_when_asked() -> None:
    probe = (
        'import "meta" for Meta\n'
        'var Mine = 2\n'
        'System.print(Meta.getModuleVariables("main").contains("Mine"))\n'
        'for (name in ["other", "meta", "random"]) {\n'
        '  var found = Fiber.new { Meta.getModuleVariables(name) }.try()\n'
        '  System.print(found is List ? "listed" : found)\n'
        '}\n'
    )
    expected = {
        False: ["true", "listed", "listed", "listed"],
        True: ["true", "Could not find a module named 'other'.", "Could not find a module named 'meta'.",
               "Could not find a module named 'random'."],
    }
    for own_only, lines in expected.items():
        vm = VM(Config(meta_own_module_only=own_only))
        assert vm.interpret("other", "var Secret = 1\n") is InterpretResult.SUCCESS
        assert vm.interpret("loader", 'import "random"\n') is InterpretResult.SUCCESS
        assert vm.interpret("main", probe) is InterpretResult.SUCCESS
        assert "".join(vm.output).splitlines() == lines
        vm.close()


def test_compile_errors_stop_at_a_thousand() -> None:
    # One error per line of invalid bytes: the error callback is not called without end.
    errors: list[Any] = []
    vm = VM(Config(error=errors.append))
    assert vm.interpret("main", "\x01\n" * 5000) is InterpretResult.COMPILE_ERROR
    assert len(errors) == 1000 and errors[-1].line == 1000
    vm.close()
