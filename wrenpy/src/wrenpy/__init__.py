"""wrenpy: a Wren 0.4 virtual machine for Python, with budgets for untrusted code.

The VM is written in C99 (`vm/`) and compiled with cffi when the package is
installed; `VM` is the entry point::

    import wrenpy

    with wrenpy.VM() as vm:
        vm.interpret("main", 'System.print("hello")')
        print(vm.output)  # ['hello\\n']

See the README for the whole API: configuration, handles and calls, slots,
foreign methods and classes, instruction and memory budgets, slices.
"""

from __future__ import annotations

from wrenpy._binding import (
    VERSION,
    VM,
    Config,
    ErrorReport,
    ErrorType,
    ForeignClass,
    ForeignMethod,
    Handle,
    InterpretResult,
    SlotType,
    Statistics,
    WrenError,
)

__all__ = [
    "VERSION",
    "VM",
    "Config",
    "ErrorReport",
    "ErrorType",
    "ForeignClass",
    "ForeignMethod",
    "Handle",
    "InterpretResult",
    "SlotType",
    "Statistics",
    "WrenError",
    "__version__",
]

__version__ = "0.4.0"
"""The package's version: the Wren language version it implements."""
