"""Wren pages: DynLan's own Wren 0.4.0 VM (C99, in `vm/`) with a cffi binding.

The binding is compiled at install time as `_wren_cffi`; `VM` is its entry point.
Importing this package does not load the extension: a missing build makes the
runtime report itself unavailable instead of failing the server's start.
"""

from __future__ import annotations

from typing import Any

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
    "WrenRuntime",
    "make_runtime",
]


def make_runtime() -> Any:
    """Entry point of the `dynlan.runtimes` group."""
    from dynlan.runtimes.wren._runtime import WrenRuntime

    return WrenRuntime()


def __getattr__(name: str) -> Any:
    if name == "WrenRuntime":
        from dynlan.runtimes.wren._runtime import WrenRuntime

        return WrenRuntime
    if name in __all__:
        from dynlan.runtimes.wren import _binding

        return getattr(_binding, name)
    raise AttributeError(name)
