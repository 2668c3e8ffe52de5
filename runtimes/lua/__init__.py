"""Lua pages (`.lua`), run by lupa. Importing this module does not import lupa."""

from __future__ import annotations

from typing import Any

__all__ = ["LuaRuntime", "make_runtime"]


def make_runtime() -> Any:
    """Entry point of the `dynlan.runtimes` group."""
    from dynlan.runtimes.lua._runtime import LuaRuntime

    return LuaRuntime()


def __getattr__(name: str) -> Any:
    if name == "LuaRuntime":
        from dynlan.runtimes.lua._runtime import LuaRuntime

        return LuaRuntime
    raise AttributeError(name)
