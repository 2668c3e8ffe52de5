"""Templates: a module compiled once (`compile_template`) and run in fresh modules (`interpret_template`)."""

from __future__ import annotations

from wrenpy import VM, Config, ErrorType, Handle, InterpretResult

CLASSES = """
class Base {
  construct new() { _base = 1 }
  static count { __count = (__count == null ? 0 : __count) + 1 }
  hello() { Base.count + _base * 100 }
}
class Sub is Base {
  construct new() {
    super()
    _sub = 10
  }
  hello() { super.hello() + _sub }
}
var runs = 0
runs = runs + 1
System.print("%(Sub.new().hello()) %(Sub.new().hello()) %(runs)")
"""


def test_a_template_runs_as_its_source_does_and_each_run_is_fresh() -> None:
    with VM() as plain:
        assert plain.interpret("main", CLASSES) is InterpretResult.SUCCESS
    with VM() as vm:
        template = vm.compile_template("page#0", CLASSES)
        assert template is not None and not vm.has_module("page#0")
        for run in range(1, 6):
            assert vm.interpret_template(f"page#{run}", template) is InterpretResult.SUCCESS
            # Its own module variables (`runs`), class statics (`__count`) and field offsets: the super call of
            # each run reaches that run's Base, not the first run's.
            assert vm.has_variable(f"page#{run}", "runs")
        assert vm.output == plain.output * 5 == ["111 112 1\n"] * 5


def test_runs_of_one_template_do_not_share_what_they_make() -> None:
    source = 'var list = []\nlist.add(1)\nSystem.print(list.count)\nvar f = Fn.new { list.count }\n'
    with VM() as vm:
        template = vm.compile_template("t", source)
        assert template is not None
        for name in ("a", "b", "c"):
            assert vm.interpret_template(name, template) is InterpretResult.SUCCESS
        assert vm.output == ["1\n"] * 3
        vm.remove_module("a")
        vm.collect_garbage()  # the first run's module and functions go; the template and the others stay
        assert vm.interpret_template("d", template) is InterpretResult.SUCCESS
        assert vm.output[-1] == "1\n"


def test_compile_errors_are_reported_under_the_module_name_and_leave_nothing() -> None:
    with VM() as vm:
        assert vm.compile_template("page#7", "var x = \n") is None
        assert [(e.type, e.module) for e in vm.errors] == [(ErrorType.COMPILE, "page#7")]
        assert not vm.has_module("page#7")


def test_runtime_errors_name_the_run_s_module_and_line() -> None:
    with VM() as vm:
        template = vm.compile_template("page#1", 'System.print("a")\nFiber.abort("no")\n')
        assert template is not None
        vm.errors.clear()
        assert vm.interpret_template("page#2", template) is InterpretResult.RUNTIME_ERROR
        assert [(e.type, e.message) for e in vm.errors] == [(ErrorType.RUNTIME, "no"), (ErrorType.STACK_TRACE, "(script)")]
        assert (vm.errors[1].module, vm.errors[1].line) == ("page#2", 2)


def test_a_run_needs_a_new_module() -> None:
    with VM() as vm:
        template = vm.compile_template("t", "var x = 1\n")
        assert template is not None
        assert vm.interpret("taken", "var y = 2\n") is InterpretResult.SUCCESS
        assert vm.interpret_template("taken", template) is InterpretResult.RUNTIME_ERROR
        assert vm.compile_template("taken", "var z = 3\n") is None


def test_templates_count_against_the_budgets_of_what_runs_them() -> None:
    loop = "var i = 0\nwhile (i < 1000000) i = i + 1\n"
    with VM(Config(write=lambda _: None)) as vm:
        template = vm.compile_template("t", loop)
        assert template is not None
        vm.set_instruction_budget(1000)
        assert vm.interpret_template("run", template) is InterpretResult.RUNTIME_ERROR
        vm.set_instruction_budget(None)
        assert vm.interpret_template("run2", template) is InterpretResult.SUCCESS


def test_an_import_is_a_copy_of_the_template_the_loader_gives() -> None:
    lib = 'class Lib {\n  static next { __n = (__n == null ? 1 : __n + 1) }\n}\nvar Made = [0]\nMade[0] = Made[0] + 1\n'
    templates: dict[str, Handle] = {}
    loaded: list[str] = []

    def load(name: str) -> str:
        loaded.append(name)
        return lib

    vm = VM(Config(resolve_module=lambda importer, name: f"{name}#{importer}", load_module=load,
                   load_template=lambda name: templates.get(name.split("#")[0])))
    with vm:
        page = 'import "lib" for Lib, Made\nSystem.print("%(Lib.next) %(Lib.next) %(Made[0])")\n'
        assert vm.interpret("p1", page) is InterpretResult.SUCCESS
        template = vm.compile_template("lib#template", lib)
        assert template is not None
        templates["lib"] = template
        for name in ("p2", "p3", "p4"):
            assert vm.interpret(name, page) is InterpretResult.SUCCESS
        assert loaded == ["lib#p1"]  # the later imports were copies of the template: no source loaded
        assert vm.output == ["1 2 1\n"] * 4  # each import its own statics and module variables
