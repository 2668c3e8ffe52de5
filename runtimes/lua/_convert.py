"""Values between Python and a Lua VM opened with `encoding=None` (Lua strings are bytes)."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 250_000
"""Values one conversion of a Lua table may take. Converting runs in the worker's event loop, where no budget
hook fires; a table that reuses its subtables (`t = {t, t}` 60 times) would otherwise stand for 2^60 values."""


class ConversionError(TypeError):
    pass


def to_lua(lua: Any, value: Any, depth: int = 0) -> Any:
    """A Python value as Lua sees it: str -> bytes, dict/list -> fresh tables."""
    if value is None or isinstance(value, bool | int | float | bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if depth > MAX_DEPTH:
        raise ConversionError("value nested too deeply")
    if isinstance(value, dict):
        return lua.table_from({to_lua(lua, k, depth + 1): to_lua(lua, v, depth + 1) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return lua.table_from([to_lua(lua, v, depth + 1) for v in value])
    raise ConversionError(f"cannot pass a {type(value).__name__} to Lua")


def from_lua(lupa_module: Any, value: Any) -> Any:
    """A Lua value as plain Python data: bytes -> str, sequences -> lists, tables -> dicts."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return _Tables(lupa_module).convert(value, 0)


class _Tables:
    """One conversion of a table, counting the values it takes."""

    __slots__ = ("lupa", "left")

    def __init__(self, lupa_module: Any) -> None:
        self.lupa = lupa_module
        self.left = MAX_ITEMS

    def convert(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        kind = self.lupa.lua_type(value)
        if kind != "table":
            raise ConversionError(f"cannot convert a Lua {kind} to data")
        if depth > MAX_DEPTH:
            raise ConversionError("table nested too deeply (or cyclic)")
        items = list(value.items())
        self.left -= len(items) + 1
        if self.left < 0:
            raise ConversionError(f"value too large to pass to the host (more than {MAX_ITEMS} values)")
        if not items:
            return {}
        keys = [k for k, _ in items]
        if all(isinstance(k, int) and not isinstance(k, bool) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
            return [self.convert(v, depth + 1) for _, v in sorted(items, key=lambda kv: kv[0])]
        out: dict[str, Any] = {}
        for k, v in items:
            if isinstance(k, bytes):
                key = k.decode("utf-8", "replace")
            elif isinstance(k, int | float) and not isinstance(k, bool):
                key = str(int(k)) if float(k).is_integer() else str(k)
            else:
                raise ConversionError(f"table keys must be strings or numbers, not {type(k).__name__}")
            out[key] = self.convert(v, depth + 1)
        return out
