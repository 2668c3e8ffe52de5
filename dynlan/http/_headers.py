"""A case-insensitive, order-keeping header list.

Names are stored lower-cased (RFC 9110 §5.1: field names are case-insensitive);
values are kept as received, decoded as ISO-8859-1 so every byte round-trips.
"""

from __future__ import annotations

import re
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
        found = None
        # A loop rather than a comprehension: this runs several times per request, nearly always on a few
        # fields and for one that is there once or not at all.
        for k, v in self._items:
            if k == name:
                found = v if found is None else f"{found}, {v}"
        return default if found is None else found

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
        for k, _ in self._items:  # noqa: SIM110 - a loop: any() over a generator costs twice as much here
            if k == name:
                return True
        return False

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


# -- response fields, checked where the protocol cores frame them ------------------------------
#
# The page API refuses bad statuses and fields first; these checks are the second line, in
# every protocol core, so that nothing reaching a core (a runtime's own header parsing, a
# cached entry, a bug) can frame a response the client reads differently from us. They sit
# on the hot path, so names and short values already checked are remembered (bounded caches:
# a page inventing names or values cannot grow them past their size), and a value not seen
# before takes a C-speed test first: `isascii() and isprintable()` holds exactly for SP and VCHAR.

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""RFC 9110 §5.6.2: token = 1*tchar."""

_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
"""RFC 9110 §5.5: field-vchar, SP, HTAB and obs-text; no CR, LF, NUL or other control character."""

_CACHE_MAX = 4096
_CACHED_VALUE_MAX = 128

FIELD_NAMES: dict[str, str] = {}
"""Names already checked, mapped to their lower-case form (HTTP/1.1 framing compares it)."""
FIELD_NAME_BYTES: dict[str, bytes] = {}
"""The same as lower-case bytes (HTTP/2 and HTTP/3 field blocks, RFC 9113 §8.2.1)."""
FIELD_VALUES: set[str] = set()
"""Short values already checked."""


class InvalidResponseHead(Exception):
    """A response head that would break the message framing; nothing of it was sent.

    Raised by the protocol cores before they change any state, so the server can still
    answer 500 on the same exchange.
    """


def check_status(status: int) -> None:
    """A final response's status (RFC 9110 §15: 200 to 599).

    A 1xx is never final (§15.2): sent as the response, 100 or 101 leaves an HTTP/1.1
    connection out of step (the client reads the next response as this one's).
    """
    if not 200 <= status <= 599:
        raise InvalidResponseHead(f"{status!r} is not a final response status (200 to 599)")


def field_name(name: str) -> str:
    """`name` lower-cased, once it is known to be a token (else `InvalidResponseHead`)."""
    got = FIELD_NAMES.get(name)
    if got is not None:
        return got
    if not _TOKEN.fullmatch(name):
        # Response splitting: "x\r\nset-cookie" as a name would start a field of its own.
        raise InvalidResponseHead(f"response header name {name!r} is not a token (RFC 9110 §5.6.2)")
    got = name.lower()
    if len(FIELD_NAMES) < _CACHE_MAX:
        FIELD_NAMES[name] = got
    return got


def field_name_bytes(name: str) -> bytes:
    """`name` as lower-case bytes, once it is known to be a token (else `InvalidResponseHead`)."""
    got = FIELD_NAME_BYTES.get(name)
    if got is None:
        got = field_name(name).encode("ascii")
        if len(FIELD_NAME_BYTES) < _CACHE_MAX:
            FIELD_NAME_BYTES[name] = got
    return got


def check_field_value(name: str, value: str) -> None:
    """A value not in `FIELD_VALUES`: checked, and remembered when short (else `InvalidResponseHead`)."""
    if not (value.isascii() and value.isprintable()) and not _FIELD_VALUE.fullmatch(value):
        # Response splitting and header injection: CR or LF would end the field, NUL or
        # another control character is read differently by different clients and proxies.
        raise InvalidResponseHead(
            f"value of response header {name!r} has a control character or one outside ISO-8859-1 (RFC 9110 §5.5)"
        )
    # Set-Cookie values are near always unique (they would only fill the cache) and carry
    # sessions: they are never kept.
    if len(value) <= _CACHED_VALUE_MAX and len(FIELD_VALUES) < _CACHE_MAX and name.lower() != "set-cookie":
        FIELD_VALUES.add(value)


def response_fields(headers: Iterable[tuple[str, str]], skip: frozenset[bytes] = frozenset()) -> list[tuple[bytes, bytes]]:
    """Checked fields as (lower-case name, value) bytes, in order, leaving out names in `skip`."""
    names = FIELD_NAME_BYTES
    values = FIELD_VALUES
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        n = names.get(name) or field_name_bytes(name)
        if value not in values:
            check_field_value(name, value)
        if n == b"content-length" and not (value.isascii() and value.isdigit()):
            # RFC 9113 §8.1.1, RFC 9114 §4.1.2: a length that is no number makes the response malformed.
            raise InvalidResponseHead(f"content-length {value!r} is not a number of bytes")
        if n not in skip:
            out.append((n, value.encode("latin-1")))
    return out


# -- trailer fields ------------------------------------------------------------------------------

NOT_IN_TRAILERS = frozenset({
    # framing and routing (RFC 9110 §6.5.1)
    "content-length", "transfer-encoding", "host", "trailer", "te",
    # hop-by-hop (RFC 9110 §7.6.1): they belong to one connection, not to a message's end
    "connection", "keep-alive", "upgrade", "proxy-connection",
    # request modifiers: controls and conditionals (RFC 9110 §7.6.2, §13.1)
    "cache-control", "expect", "max-forwards", "pragma", "range",
    "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
    # authentication (RFC 9110 §11) and cookies (RFC 6265)
    "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate", "authentication-info",
    "proxy-authentication-info", "cookie", "set-cookie",
    # response control data (RFC 9110 §15) and content metadata (§8)
    "age", "date", "expires", "location", "retry-after", "vary", "warning",
    "content-encoding", "content-type", "content-range", "content-location", "content-language",
})
"""Fields a recipient must not take from a trailer section (RFC 9110 §6.5.1): they would change how the message
is framed, routed, authenticated or cached once its head has been acted on."""


def trailer_fields(fields: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The trailer fields that may be sent, in order: those of `NOT_IN_TRAILERS`, `Proxy-*` and pseudo-fields left
    out. Names and values are checked where they are framed (`response_fields`), as a head's are."""
    return [(name, value) for name, value in fields
            if (lower := name.lower()) not in NOT_IN_TRAILERS and not lower.startswith(("proxy-", ":"))]
