"""A case-insensitive, order-keeping header list.

Names are stored lower-cased (RFC 9110 §5.1: field names are case-insensitive);
values are kept as received, decoded as ISO-8859-1 so every byte round-trips.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Headers:
    """Request or response header fields, in order, with repeats kept."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(k.lower(), v) for k, v in items]

    @classmethod
    def from_lowered(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap a list whose names are already lower-case (no copy)."""
        h = cls.__new__(cls)
        h._items = items
        return h

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's value; repeats are joined with ", " (RFC 9110 §5.3)."""
        name = name.lower()
        found = [v for k, v in self._items if k == name]
        if not found:
            return default
        return found[0] if len(found) == 1 else ", ".join(found)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k == name]

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` with one field."""
        name = name.lower()
        self._items = [(k, v) for k, v in self._items if k != name]
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name.lower(), value))

    def remove(self, name: str) -> None:
        name = name.lower()
        self._items = [(k, v) for k, v in self._items if k != name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        name = name.lower()
        return any(k == name for k, _ in self._items)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def as_dict(self) -> dict[str, str]:
        """One entry per name, repeats joined (what static-file logic reads)."""
        out: dict[str, str] = {}
        for k, v in self._items:
            out[k] = f"{out[k]}, {v}" if k in out else v
        return out

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
