"""Pythonic binding of the Wren VM (compiled by cffi as `_wren_cffi`).

A `VM` owns one C VM. Values cross the boundary through slots; Python
callables implement foreign methods and foreign classes. Nothing a script
does may crash the Python process: Python exceptions raised inside foreign
methods become Wren runtime errors, and re-entering the VM from a foreign
method is refused with `WrenError`.
"""

from __future__ import annotations

import enum
import itertools
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from wrenpy._wren_cffi import ffi, lib

# The public names are listed once, in the package's `__all__` (which loads this module lazily).

VERSION: int = int(lib.wren_get_version_number())

ForeignMethod = Callable[["VM"], None]
"""A foreign method: reads arguments from slots 1.., writes the result to slot 0."""


class WrenError(Exception):
    """Misuse of the binding (closed VM, released handle, re-entrant call, bad slot)."""


class InterpretResult(enum.IntEnum):
    SUCCESS = 0
    COMPILE_ERROR = 1
    RUNTIME_ERROR = 2
    PAUSED = 3
    """The slice ran out: the running fiber is in slot 0 (see `VM.set_slice`)."""


class ErrorType(enum.IntEnum):
    COMPILE = 0
    RUNTIME = 1
    STACK_TRACE = 2


class SlotType(enum.IntEnum):
    BOOL = 0
    NUM = 1
    FOREIGN = 2
    LIST = 3
    MAP = 4
    NULL = 5
    STRING = 6
    UNKNOWN = 7


_BOOL, _NUM, _NULL, _STRING = int(SlotType.BOOL), int(SlotType.NUM), int(SlotType.NULL), int(SlotType.STRING)


# The value types are NamedTuples rather than dataclasses: `dataclasses` (and the
# `inspect` it imports) would be most of a short script's start-up.


class ErrorReport(NamedTuple):
    """One line of error output: a compile error, a runtime error or a stack frame."""

    type: ErrorType
    module: str | None
    line: int
    message: str


class Statistics(NamedTuple):
    heap_bytes: int
    """Bytes currently allocated by the VM."""
    gc_runs: int
    """Garbage collections so far."""
    instructions: int
    """Bytecode instructions executed so far."""
    modules: int
    """Modules currently loaded (core excluded)."""


class ForeignClass(NamedTuple):
    """A foreign class implemented in Python.

    `allocate(vm)` sees the constructor arguments in slots 1.. and returns the
    Python object that backs the new instance. `finalize(obj)` runs when the
    instance is collected; it must not touch the VM.
    """

    allocate: Callable[[VM], object]
    finalize: Callable[[Any], None] | None = None


_NO_FOREIGN: Mapping[Any, Any] = MappingProxyType({})


class Config(NamedTuple):
    """Configuration of a `VM`. Every field is optional."""

    write: Callable[[str], None] | None = None
    """Receives `System.print`/`System.write` text. Default: collected in `VM.output`."""
    error: Callable[[ErrorReport], None] | None = None
    """Receives each error line. Default: collected in `VM.errors`."""
    resolve_module: Callable[[str, str], str | None] | None = None
    """`(importer, name) -> canonical name` or None when the import cannot be resolved."""
    load_module: Callable[[str], str | None] | None = None
    """`name -> source` or None when the module does not exist."""
    load_template: Callable[[str], Handle | None] | None = None
    """`name -> template` (`VM.compile_template`) to import the module from, a copy of it run without compiling
    its source again; None to load its source with `load_module`. Asked first."""
    foreign_methods: Mapping[tuple[str, str, bool, str], ForeignMethod] = _NO_FOREIGN
    """`(module, class, is_static, signature) -> callable`."""
    foreign_classes: Mapping[tuple[str, str], ForeignClass] = _NO_FOREIGN
    """`(module, class) -> ForeignClass`."""
    bind_foreign_method: Callable[[str, str, bool, str], ForeignMethod | None] | None = None
    """Fallback lookup for foreign methods not in `foreign_methods`."""
    bind_foreign_class: Callable[[str, str], ForeignClass | None] | None = None
    """Fallback lookup for foreign classes not in `foreign_classes`."""
    initial_heap_size: int = 0
    """Bytes allocated before the first collection (0: VM default, 10 MB)."""
    min_heap_size: int = 0
    """Lower bound of the collection threshold (0: VM default, 4 MB; freed blocks up to twice this are kept for reuse)."""
    heap_growth_percent: int = 0
    """Threshold growth after a collection (0: VM default, 50)."""
    max_heap_size: int = 0
    """Memory cap in bytes; beyond it the running fiber gets "Out of memory." (0: none)."""
    instruction_budget: int | None = None
    """Instructions the VM may execute before "Instruction budget exhausted." (None: no limit)."""
    enable_optional_modules: bool = True
    """Provide the built-in `meta` and `random` modules."""
    meta_own_module_only: bool = False
    """`Meta.getModuleVariables` answers only for the calling module itself (for untrusted code)."""
    user_data: Any = None


# Foreign instances hold an id into this table; finalizers run inside the
# collector of whichever VM owns the instance, so the table is process-wide.
_foreign_objects: dict[int, tuple[object, Callable[[object], None] | None]] = {}
_foreign_ids = itertools.count(1)
_foreign_lock = threading.Lock()


class Handle:
    """A persistent reference to a Wren value (or a call signature)."""

    __slots__ = ("_vm", "_ptr", "signature", "arity")

    def __init__(self, vm: VM, ptr: Any, signature: str | None = None) -> None:
        self._vm: VM | None = vm
        self._ptr: Any = ptr
        self.signature = signature
        self.arity = 0
        if signature is not None:
            marks = [i for i in (signature.find("("), signature.find("[")) if i >= 0]
            self.arity = signature[min(marks) :].count("_") if marks else 0

    @property
    def released(self) -> bool:
        return self._ptr is None

    def _raw(self, vm: VM) -> Any:
        if self._ptr is None or self._vm is None:
            raise WrenError("handle has been released")
        if self._vm is not vm:
            raise WrenError("handle belongs to another VM")
        return self._ptr

    def release(self) -> None:
        vm, ptr = self._vm, self._ptr
        self._vm = None
        self._ptr = None
        if vm is not None and ptr is not None and vm._vm is not None:
            vm._handles.discard(self)
            lib.wren_release_handle(vm._vm, ptr)

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class VM:
    """One Wren virtual machine."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()
        self.user_data: Any = self.config.user_data
        self.output: list[str] = []
        self.errors: list[ErrorReport] = []
        self._methods: list[ForeignMethod] = []
        self._classes: list[ForeignClass] = []
        self._handles: set[Handle] = set()
        self._pending: BaseException | None = None
        self._running = False
        self._self_handle = ffi.new_handle(self)
        self._length = ffi.new("int*")
        """Out-parameter of string reads (the VM runs on one thread at a time)."""
        c = self.config
        self._vm: Any = lib.dl_new_vm(
            c.initial_heap_size,
            c.min_heap_size,
            c.heap_growth_percent,
            c.max_heap_size,
            c.enable_optional_modules,
            c.meta_own_module_only,
            self._self_handle,
        )
        if self._vm == ffi.NULL:
            raise MemoryError("could not create a Wren VM")
        if c.instruction_budget is not None:
            self.set_instruction_budget(c.instruction_budget)

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Frees the VM; every handle becomes invalid."""
        if self._vm is None:
            return
        if self._running:
            raise WrenError("cannot close a VM from inside a foreign method")
        for handle in list(self._handles):
            handle.release()
        vm = self._vm
        self._vm = None
        lib.wren_free_vm(vm)

    def __enter__(self) -> VM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_vm", None) is not None and not self._running:
                self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self._vm is None

    def _ptr(self) -> Any:
        if self._vm is None:
            raise WrenError("the VM is closed")
        return self._vm

    def _enter(self) -> Any:
        vm = self._ptr()
        if self._running:
            raise WrenError("the VM is not re-entrant: cannot run Wren code from a foreign method")
        return vm

    def _run(self, fn: Callable[[], int]) -> InterpretResult:
        self._running = True
        try:
            result = InterpretResult(fn())
        finally:
            self._running = False
        pending, self._pending = self._pending, None
        if pending is not None and not isinstance(pending, Exception):
            raise pending
        return result

    # -- running code ------------------------------------------------------

    def interpret(self, module: str, source: str | bytes) -> InterpretResult:
        """Compiles `source` into `module` and runs it."""
        vm = self._enter()
        data = source.encode() if isinstance(source, str) else source
        if b"\0" in data:
            data = data.split(b"\0", 1)[0]
        mod = module.encode()
        return self._run(lambda: int(lib.wren_interpret(vm, mod, data)))

    def compile_template(self, module: str, source: str | bytes) -> Handle | None:
        """Compiles `source` once, as `interpret(module, source)` would (its compile errors are reported under
        `module`), without running it or keeping a module: a template for `interpret_template`. None when it does
        not compile (or `module` exists)."""
        vm = self._enter()
        data = source.encode() if isinstance(source, str) else source
        if b"\0" in data:
            data = data.split(b"\0", 1)[0]
        mod = module.encode()
        self._running = True
        try:
            ptr = lib.wren_compile_template(vm, mod, data)
        finally:
            self._running = False
        pending, self._pending = self._pending, None
        if pending is not None and not isinstance(pending, Exception):
            if ptr != ffi.NULL:
                lib.wren_release_handle(vm, ptr)
            raise pending
        if ptr == ffi.NULL:
            return None
        handle = Handle(self, ptr)
        self._handles.add(handle)
        return handle

    def interpret_template(self, module: str, template: Handle) -> InterpretResult:
        """Runs a template (`compile_template`) in a new module `module`, as `interpret(module, source)` would run
        its source, without compiling it again: each run has its own copy of the module's variables and code."""
        vm = self._enter()
        ptr = template._raw(self)
        mod = module.encode()
        return self._run(lambda: int(lib.wren_interpret_template(vm, mod, ptr)))

    def make_call_handle(self, signature: str) -> Handle:
        """A handle for calling a method, e.g. `"update(_,_)"`."""
        ptr = lib.wren_make_call_handle(self._ptr(), signature.encode())
        handle = Handle(self, ptr, signature)
        self._handles.add(handle)
        return handle

    def call(self, method: Handle) -> InterpretResult:
        """Calls `method` with the receiver in slot 0 and arguments in slots 1..n.

        The result is left in slot 0.
        """
        vm = self._enter()
        ptr = method._raw(self)
        if method.signature is None:
            raise WrenError("not a call handle")
        return self._run(lambda: int(lib.wren_call(vm, ptr)))

    def resume(self, fiber: Handle) -> InterpretResult:
        """Runs a fiber that paused at the end of a slice (see `set_slice`) until it ends or pauses again."""
        vm = self._enter()
        ptr = fiber._raw(self)
        return self._run(lambda: int(lib.wren_resume(vm, ptr)))

    def call_method(self, receiver: Handle, signature: str, *args: Any) -> Any:
        """Convenience: calls `receiver.signature(*args)` and returns slot 0 as Python.

        Raises `WrenError` with the error text when the call fails.
        """
        with self.make_call_handle(signature) as method:
            self.ensure_slots(len(args) + 1)
            self.set_slot_handle(0, receiver)
            for i, arg in enumerate(args, 1):
                self.set_slot(i, arg)
            start = len(self.errors)
            result = self.call(method)
            if result is not InterpretResult.SUCCESS:
                messages = [
                    e.message for e in self.errors[start:] if e.type != ErrorType.STACK_TRACE
                ]
                raise WrenError("; ".join(messages) or result.name)
            return self.get_slot(0)

    def collect_garbage(self) -> None:
        lib.wren_collect_garbage(self._enter())

    def statistics(self) -> Statistics:
        stats = ffi.new("WrenStatistics*")
        lib.wren_get_statistics(self._ptr(), stats)
        return Statistics(
            heap_bytes=int(stats.heapBytes),
            gc_runs=int(stats.gcRuns),
            instructions=int(stats.instructions),
            modules=int(stats.modules),
        )

    def set_instruction_budget(self, instructions: int | None) -> None:
        """Limits the instructions executed from now on (None: unlimited)."""
        lib.wren_set_instruction_budget(
            self._ptr(), -1 if instructions is None else max(0, instructions)
        )

    def set_slice(self, instructions: int | None) -> None:
        """Pauses running code after about this many instructions (None: never).

        `interpret`, `call` and `resume` then return `InterpretResult.PAUSED`
        with the paused fiber in slot 0; take it with `get_slot_handle(0)` and
        pass it to `resume` to go on. Other code may run in the VM meanwhile.
        """
        lib.wren_set_slice(self._ptr(), -1 if instructions is None else max(0, instructions))

    @property
    def instruction_budget(self) -> int | None:
        """Instructions left, or None when unlimited."""
        value = int(lib.wren_get_instruction_budget(self._ptr()))
        return None if value < 0 else value

    def set_max_heap_size(self, size: int) -> None:
        """Sets the memory cap in bytes (0: none)."""
        lib.wren_set_max_heap_size(self._ptr(), max(0, size))

    def remove_module(self, name: str) -> bool:
        """Forgets a module so that per-request modules do not accumulate."""
        return bool(lib.wren_remove_module(self._enter(), name.encode()))

    def has_module(self, name: str) -> bool:
        return bool(lib.wren_has_module(self._ptr(), name.encode()))

    def has_variable(self, module: str, name: str) -> bool:
        return bool(lib.wren_has_variable(self._ptr(), module.encode(), name.encode()))

    def get_variable(self, module: str, name: str, slot: int) -> None:
        self._check_slot(slot)
        lib.wren_get_variable(self._ptr(), module.encode(), name.encode(), slot)

    def abort_fiber(self, slot: int) -> None:
        """From a foreign method: raise the value in `slot` as a runtime error."""
        self._check_slot(slot)
        lib.wren_abort_fiber(self._ptr(), slot)

    # -- slots -------------------------------------------------------------

    @property
    def slot_count(self) -> int:
        return int(lib.wren_get_slot_count(self._ptr()))

    def ensure_slots(self, count: int) -> None:
        if count < 0 or count > 1_000_000:
            raise WrenError(f"bad slot count {count}")
        lib.wren_ensure_slots(self._ptr(), count)

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < lib.wren_get_slot_count(self._ptr()):
            raise IndexError(f"slot {slot} out of range")

    def get_slot_type(self, slot: int) -> SlotType:
        self._check_slot(slot)
        return SlotType(int(lib.wren_get_slot_type(self._vm, slot)))

    def get_slot_bool(self, slot: int) -> bool:
        self._check_slot(slot)
        return bool(lib.wren_get_slot_bool(self._vm, slot))

    def get_slot_double(self, slot: int) -> float:
        self._check_slot(slot)
        return float(lib.wren_get_slot_double(self._vm, slot))

    def get_slot_bytes(self, slot: int) -> bytes:
        self._check_slot(slot)
        length = ffi.new("int*")
        ptr = lib.wren_get_slot_bytes(self._vm, slot, length)
        if ptr == ffi.NULL:
            raise WrenError(f"slot {slot} does not hold a string")
        return bytes(ffi.buffer(ptr, length[0]))

    def get_slot_string(self, slot: int) -> str:
        return self.get_slot_bytes(slot).decode("utf-8", "replace")

    def get_slot_handle(self, slot: int) -> Handle:
        self._check_slot(slot)
        handle = Handle(self, lib.wren_get_slot_handle(self._vm, slot))
        self._handles.add(handle)
        return handle

    def get_slot_foreign(self, slot: int) -> object:
        """The Python object backing a foreign instance created by a `ForeignClass`."""
        self._check_slot(slot)
        data = lib.wren_get_slot_foreign(self._vm, slot)
        if data == ffi.NULL:
            raise WrenError(f"slot {slot} does not hold a foreign instance")
        key = int(ffi.cast("int64_t*", data)[0])
        entry = _foreign_objects.get(key)
        if entry is None:
            raise WrenError("foreign instance has no Python object")
        return entry[0]

    def set_slot_bool(self, slot: int, value: bool) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_bool(self._vm, slot, bool(value))

    def set_slot_double(self, slot: int, value: float) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_double(self._vm, slot, float(value))

    def set_slot_null(self, slot: int) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_null(self._vm, slot)

    def set_slot_bytes(self, slot: int, value: bytes) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_bytes(self._vm, slot, value, len(value))

    def set_slot_string(self, slot: int, value: str) -> None:
        self.set_slot_bytes(slot, value.encode("utf-8", "surrogateescape"))

    def set_slot_new_list(self, slot: int) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_new_list(self._vm, slot)

    def set_slot_new_map(self, slot: int) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_new_map(self._vm, slot)

    def set_slot_handle(self, slot: int, handle: Handle) -> None:
        self._check_slot(slot)
        lib.wren_set_slot_handle(self._vm, slot, handle._raw(self))

    def get_list_count(self, slot: int) -> int:
        self._check_slot(slot)
        return int(lib.wren_get_list_count(self._vm, slot))

    def get_list_element(self, list_slot: int, index: int, element_slot: int) -> None:
        self._check_slot(list_slot)
        self._check_slot(element_slot)
        lib.wren_get_list_element(self._vm, list_slot, index, element_slot)

    def set_list_element(self, list_slot: int, index: int, element_slot: int) -> None:
        self._check_slot(list_slot)
        self._check_slot(element_slot)
        lib.wren_set_list_element(self._vm, list_slot, index, element_slot)

    def insert_in_list(self, list_slot: int, index: int, element_slot: int) -> None:
        """Inserts at `index`; negative indexes count from the end (-1 appends)."""
        self._check_slot(list_slot)
        self._check_slot(element_slot)
        lib.wren_insert_in_list(self._vm, list_slot, index, element_slot)

    def get_map_count(self, slot: int) -> int:
        self._check_slot(slot)
        return int(lib.wren_get_map_count(self._vm, slot))

    def get_map_contains_key(self, map_slot: int, key_slot: int) -> bool:
        self._check_slot(map_slot)
        self._check_slot(key_slot)
        return bool(lib.wren_get_map_contains_key(self._vm, map_slot, key_slot))

    def get_map_value(self, map_slot: int, key_slot: int, value_slot: int) -> None:
        for s in (map_slot, key_slot, value_slot):
            self._check_slot(s)
        lib.wren_get_map_value(self._vm, map_slot, key_slot, value_slot)

    def set_map_value(self, map_slot: int, key_slot: int, value_slot: int) -> None:
        for s in (map_slot, key_slot, value_slot):
            self._check_slot(s)
        lib.wren_set_map_value(self._vm, map_slot, key_slot, value_slot)

    def remove_map_value(self, map_slot: int, key_slot: int, removed_slot: int) -> None:
        for s in (map_slot, key_slot, removed_slot):
            self._check_slot(s)
        lib.wren_remove_map_value(self._vm, map_slot, key_slot, removed_slot)

    # -- Python conversion -------------------------------------------------

    def get_slot(self, slot: int, _depth: int = 0) -> Any:
        """The value in `slot` as Python: None, bool, float, str, list, dict, a
        foreign instance's object, or a `Handle` for anything else."""
        # Values by kind, without the per-call enum and checks of the typed getters: every host call of a
        # page reads its arguments through here.
        vm = self._ptr()
        if not 0 <= slot < lib.wren_get_slot_count(vm):
            raise IndexError(f"slot {slot} out of range")
        raw = lib.wren_get_slot_type(vm, slot)
        if raw == _STRING:
            ptr = lib.wren_get_slot_bytes(vm, slot, self._length)
            return ffi.buffer(ptr, self._length[0])[:].decode("utf-8", "replace")
        if raw == _NULL:
            return None
        if raw == _NUM:
            return float(lib.wren_get_slot_double(vm, slot))
        if raw == _BOOL:
            return bool(lib.wren_get_slot_bool(vm, slot))
        kind = SlotType(raw)
        if kind is SlotType.FOREIGN:
            try:
                return self.get_slot_foreign(slot)
            except WrenError:
                return self.get_slot_handle(slot)
        if kind in (SlotType.LIST, SlotType.MAP) and _depth < 64:
            base = self.slot_count
            self.ensure_slots(base + 3)
            if kind is SlotType.LIST:
                items = []
                for i in range(self.get_list_count(slot)):
                    self.get_list_element(slot, i, base)
                    items.append(self.get_slot(base, _depth + 1))
                return items
            # Maps: iterate keys through a Wren helper-free path is not exposed
            # by the slot API, so return a handle-backed snapshot of keys.
            return self.get_slot_handle(slot)
        return self.get_slot_handle(slot)

    def set_slot(self, slot: int, value: Any, _depth: int = 0) -> None:
        """Stores a Python value: None, bool, int/float, str, bytes, list/tuple,
        dict (with value-type keys) or a `Handle`."""
        if value is None:
            self.set_slot_null(slot)
        elif isinstance(value, bool):
            self.set_slot_bool(slot, value)
        elif isinstance(value, (int, float)):
            self.set_slot_double(slot, float(value))
        elif isinstance(value, str):
            self.set_slot_string(slot, value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            self.set_slot_bytes(slot, bytes(value))
        elif isinstance(value, Handle):
            self.set_slot_handle(slot, value)
        elif isinstance(value, (list, tuple)) and _depth < 64:
            self.set_slot_new_list(slot)
            base = self.slot_count
            self.ensure_slots(base + 1)
            for item in value:
                self.set_slot(base, item, _depth + 1)
                self.insert_in_list(slot, -1, base)
        elif isinstance(value, dict) and _depth < 64:
            self.set_slot_new_map(slot)
            base = self.slot_count
            self.ensure_slots(base + 2)
            for key, item in value.items():
                self.set_slot(base, key, _depth + 1)
                self.set_slot(base + 1, item, _depth + 1)
                self.set_map_value(slot, base, base + 1)
        else:
            raise TypeError(f"cannot pass {type(value).__name__} to Wren")

    # -- callbacks (called from C) -----------------------------------------

    def _bind_method(self, module: str, class_name: str, is_static: bool, signature: str) -> int:
        fn = self.config.foreign_methods.get((module, class_name, is_static, signature))
        if fn is None and self.config.bind_foreign_method is not None:
            fn = self.config.bind_foreign_method(module, class_name, is_static, signature)
        if fn is None:
            return -1
        self._methods.append(fn)
        return len(self._methods) - 1

    def _bind_class(self, module: str, class_name: str) -> int:
        cls = self.config.foreign_classes.get((module, class_name))
        if cls is None and self.config.bind_foreign_class is not None:
            cls = self.config.bind_foreign_class(module, class_name)
        if cls is None:
            return -1
        self._classes.append(cls)
        return len(self._classes) - 1

    def _fail_foreign(self, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not isinstance(exc, Exception):
            self._pending = exc
        lib.wren_ensure_slots(self._vm, 1)
        data = message.encode("utf-8", "replace")
        lib.wren_set_slot_bytes(self._vm, 0, data, len(data))
        lib.wren_abort_fiber(self._vm, 0)


def _vm_of(vm_ptr: Any) -> VM:
    vm: VM = ffi.from_handle(lib.wren_get_user_data(vm_ptr))
    return vm


def _text(ptr: Any) -> str:
    return "" if ptr == ffi.NULL else ffi.string(ptr).decode("utf-8", "replace")


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_write(vm_ptr: Any, text: Any) -> None:
    try:
        vm = _vm_of(vm_ptr)
        value = _text(text)
        if vm.config.write is not None:
            vm.config.write(value)
        else:
            vm.output.append(value)
    except Exception:
        pass


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_error(vm_ptr: Any, kind: int, module: Any, line: int, message: Any) -> None:
    try:
        vm = _vm_of(vm_ptr)
        report = ErrorReport(
            type=ErrorType(int(kind)),
            module=None if module == ffi.NULL else _text(module),
            line=int(line),
            message=_text(message),
        )
        vm.errors.append(report)
        if vm.config.error is not None:
            vm.config.error(report)
    except Exception:
        pass


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_resolve(vm_ptr: Any, importer: Any, name: Any) -> Any:
    try:
        vm = _vm_of(vm_ptr)
        resolved: str | None = _text(name)
        if vm.config.resolve_module is not None:
            resolved = vm.config.resolve_module(_text(importer), _text(name))
        if resolved is None or "\0" in resolved:
            return ffi.NULL
        return lib.wren_alloc_string(vm_ptr, resolved.encode())
    except Exception:
        return ffi.NULL


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_load(vm_ptr: Any, name: Any) -> Any:
    try:
        vm = _vm_of(vm_ptr)
        if vm.config.load_module is None:
            return ffi.NULL
        source = vm.config.load_module(_text(name))
        if source is None:
            return ffi.NULL
        data = source.encode() if isinstance(source, str) else bytes(source)
        return lib.wren_alloc_string(vm_ptr, data.split(b"\0", 1)[0])
    except Exception:
        return ffi.NULL


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_load_template(vm_ptr: Any, name: Any) -> Any:
    try:
        vm = _vm_of(vm_ptr)
        if vm.config.load_template is None:
            return ffi.NULL
        template = vm.config.load_template(_text(name))
        if template is None:
            return ffi.NULL
        return template._raw(vm)
    except Exception:
        return ffi.NULL


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_bind_method(
    vm_ptr: Any, module: Any, class_name: Any, is_static: bool, signature: Any
) -> int:
    try:
        return _vm_of(vm_ptr)._bind_method(
            _text(module), _text(class_name), bool(is_static), _text(signature)
        )
    except Exception:
        return -1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_bind_class(vm_ptr: Any, module: Any, class_name: Any) -> int:
    try:
        return _vm_of(vm_ptr)._bind_class(_text(module), _text(class_name))
    except Exception:
        return -1


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_foreign_call(vm_ptr: Any) -> None:
    vm: VM | None = None
    try:
        vm = _vm_of(vm_ptr)
        index = int(ffi.cast("intptr_t", lib.wren_get_foreign_tag(vm_ptr)))
        vm._methods[index](vm)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a Wren error
        if vm is not None:
            vm._fail_foreign(exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_foreign_allocate(vm_ptr: Any) -> None:
    vm: VM | None = None
    try:
        vm = _vm_of(vm_ptr)
        index = int(ffi.cast("intptr_t", lib.wren_get_foreign_tag(vm_ptr)))
        cls = vm._classes[index]
        obj = cls.allocate(vm)
        with _foreign_lock:
            key = next(_foreign_ids)
            _foreign_objects[key] = (obj, cls.finalize)
        data = lib.wren_set_slot_new_foreign(vm_ptr, 0, 0, 8)
        if data == ffi.NULL:
            with _foreign_lock:
                _foreign_objects.pop(key, None)
            raise WrenError("could not allocate a foreign instance")
        ffi.cast("int64_t*", data)[0] = key
    except BaseException as exc:  # noqa: BLE001
        if vm is not None:
            vm._fail_foreign(exc)


@ffi.def_extern()  # type: ignore[untyped-decorator]
def _dl_finalize(data: Any) -> None:
    try:
        key = int(ffi.cast("int64_t*", data)[0])
        with _foreign_lock:
            entry = _foreign_objects.pop(key, None)
        if entry is not None and entry[1] is not None:
            entry[1](entry[0])
    except Exception:
        pass
