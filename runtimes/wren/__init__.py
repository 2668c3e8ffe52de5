"""Wren pages, on DynLan's own Wren 0.4.0 VM: the `wrenpy` package (`wrenpy/` in the repository).

The VM and its cffi binding are `wrenpy`, a distribution of its own; the names
below are its API, re-exported. Importing this package does not load the
extension: a missing build makes the runtime report itself unavailable instead
of failing the server's start.
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
        import wrenpy

        return getattr(wrenpy, name)
    raise AttributeError(name)
