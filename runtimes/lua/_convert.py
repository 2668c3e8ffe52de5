"""Values between Python and a Lua VM opened with `encoding=None` (Lua strings are bytes)."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 250_000
"""Values one conversion may take (about 0.2 s). Converting runs in the worker's event loop, where no budget
hook fires; a Lua table that reuses its subtables (`t = {t, t}` 60 times) would otherwise stand for 2^60 values."""


class ConversionError(TypeError):
    pass


_SCALARS = frozenset({bool, int, float, bytes, type(None)})
FLAT_ITEMS = 16
"""A dict of at most this many str keys and scalar values (most host calls' answers: a received message, a
response's status) is made into a table in one step, without the general walk."""


def to_lua(lua: Any, value: Any) -> Any:
    """A Python value as Lua sees it: str -> bytes, dict/list -> fresh tables (at most MAX_ITEMS values)."""
    if value is None or isinstance(value, bool | int | float | bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if type(value) is dict and len(value) <= FLAT_ITEMS:
        flat: dict[bytes, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                break
            if type(v) is str:
                v = v.encode("utf-8", "surrogateescape")
            elif type(v) not in _SCALARS:
                break
            flat[k.encode("utf-8", "surrogateescape")] = v
        else:
            return lua.table_from(flat)
    return _Values(lua).convert(value, 0)


class _Values:
    """One conversion of Python data into Lua tables, counting the values it makes (the host's event loop
    runs it: a page's `json.decode` of a few megabytes could otherwise stand for millions of tables)."""

    __slots__ = ("lua", "left")

    def __init__(self, lua: Any) -> None:
        self.lua = lua
        self.left = MAX_ITEMS

    def convert(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool | int | float | bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if depth > MAX_DEPTH:
            raise ConversionError("value nested too deeply")
        if isinstance(value, dict | list | tuple):
            self.left -= len(value) + 1
            if self.left < 0:
                raise ConversionError(f"value too large to pass to Lua (more than {MAX_ITEMS} values)")
            if isinstance(value, dict):
                return self.lua.table_from({self.convert(k, depth + 1): self.convert(v, depth + 1)
                                            for k, v in value.items()})
            return self.lua.table_from([self.convert(v, depth + 1) for v in value])
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
