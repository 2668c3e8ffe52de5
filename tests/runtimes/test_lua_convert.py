"""Python values as a Lua VM gets them (runtimes/lua/_convert.py): the one-step table of a flat dict is the table
the general walk makes."""

from __future__ import annotations

from typing import Any

import lupa
import pytest

from runtimes.lua._convert import MAX_ITEMS, ConversionError, _Values, to_lua


@pytest.fixture(scope="module")
def lua() -> Any:
    return lupa.LuaRuntime(encoding=None)


def as_data(value: Any) -> Any:
    """A table back as plain data (keys and values as Lua holds them)."""
    if lupa.lua_type(value) == "table":
        return {k: as_data(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("value", [
    {"kind": "text", "data": "héllo"},
    {"a": 1, "b": 1.5, "c": True, "d": None, "e": b"\xff\x00", "f": "\udcff"},
    {},
    {"nested": {"x": 1}},  # not flat: the general walk
    {1: "int key"},
    {"list": [1, "two"]},
    {f"k{i}": i for i in range(40)},  # more than FLAT_ITEMS
])
def test_flat_dicts_become_the_same_tables(lua: Any, value: dict[Any, Any]) -> None:
    assert as_data(to_lua(lua, value)) == as_data(_Values(lua).convert(value, 0))


def test_what_cannot_be_converted_is_still_refused(lua: Any) -> None:
    with pytest.raises(ConversionError):
        to_lua(lua, {"f": object()})
    with pytest.raises(ConversionError):
        to_lua(lua, {"big": list(range(MAX_ITEMS + 1))})
