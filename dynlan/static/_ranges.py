"""Range requests (RFC 9110 §14)."""

from __future__ import annotations

MAX_RANGES = 32
"""More ranges than this are served as a full 200: range amplification (many
small or overlapping ranges that multiply the work) is not worth honouring."""


class Unsatisfiable(Exception):
    """No requested range overlaps the representation (416)."""


def parse_range(value: str, size: int) -> list[tuple[int, int]] | None:
    """Byte ranges as (start, end-inclusive), coalesced; None when the header is to be ignored.

    Invalid syntax means the header is ignored (RFC 9110 §14.2: a server MAY
    ignore Range); a valid set with no satisfiable range raises Unsatisfiable.
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in spec.split(",")]
    if not parts or len(parts) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    if not any(parts):
        return None  # an empty range-set is not valid syntax
    for part in parts:
        if not part:
            continue
        first, dash, last = part.partition("-")
        first, last = first.strip(), last.strip()
        if not dash or (first and not first.isdigit()) or (last and not last.isdigit()):
            return None
        if not first:
            if not last:
                return None
            length = int(last)
            if length == 0:
                continue  # suffix of zero bytes: unsatisfiable on its own
            ranges.append((max(0, size - length), size - 1))
            continue
        start = int(first)
        if last and int(last) < start:
            return None  # RFC 9110 §14.1.1: last-pos < first-pos is invalid
        if start >= size:
            continue
        end = int(last) if last else size - 1
        ranges.append((start, min(end, size - 1)))
    if not ranges:
        raise Unsatisfiable
    ranges.sort()
    merged: list[tuple[int, int]] = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged
