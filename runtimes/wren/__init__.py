"""Wren pages: DynLan's own Wren 0.4.0 VM (C99, in `vm/`) with a cffi binding.

The binding is compiled at install time as `_wren_cffi`; `VM` is its entry point.
"""

from __future__ import annotations

from dynlan.runtimes.wren._binding import (
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
]
