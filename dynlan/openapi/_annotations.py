"""What a page declares about itself for its OpenAPI description: a comment block at the top of the page.

The format is the same in every language; only the comment marker is the language's own, so the page still
runs unchanged. The block is the page's first run of comment lines (after `<?php`, a shebang and blank lines);
its lines that start with `@` are annotations:

    -- @summary List the items
    -- @methods GET POST
    -- @param query limit integer How many items, at most
    -- @param header x-trace string
    -- @body application/json {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    -- @response 200 application/json {"type": "array", "items": {"type": "string"}}
    -- @response 404 No such item

Markers: `--` (Lua), `//` (Wren, PHP), `#` (Python, PHP), `{#` ... `#}` (Jinja), `/*`, `*` and `*/` (a C-style
block). Schemas are JSON Schema (OpenAPI 3.1's dialect), written as JSON on the annotation's line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
LOCATIONS = ("query", "header", "path", "cookie")
TYPES = ("string", "integer", "number", "boolean", "array", "object")
MAX_HEAD = 64 * 1024
"""Bytes of a page read for its block: the annotations are at the top."""
_MARKERS = ("--", "//", "#}", "{#", "#", "/**", "/*", "*/", "*")
_OPENERS = {"{#": "#}", "/**": "*/", "/*": "*/"}


class AnnotationError(ValueError):
    """An annotation that cannot be read: the message names the page's file and line."""


@dataclass(slots=True)
class Parameter:
    name: str
    location: str
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(slots=True)
class Body:
    content_type: str
    schema: dict[str, Any]


@dataclass(slots=True)
class Answer:
    status: str
    description: str = ""
    content_type: str | None = None
    schema: dict[str, Any] | None = None


@dataclass(slots=True)
class Annotations:
    """A page's declarations; empty when it has none."""

    summary: str = ""
    description: str = ""
    methods: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    operation_id: str = ""
    parameters: list[Parameter] = field(default_factory=list)
    body: Body | None = None
    responses: list[Answer] = field(default_factory=list)
    deprecated: bool = False


def comment_block(source: str) -> list[tuple[int, str]]:
    """(line number, text without its comment marker) of the page's first comment block."""
    lines = source.splitlines()
    block: list[tuple[int, str]] = []
    started = False
    docstring: str | None = None
    closing: str | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if docstring is not None:
            # A Python page's docstring before its comments: not part of the block, and not its end.
            if docstring in line:
                docstring = None
            continue
        if not started and (not line or line.startswith("#!") or line.lower().startswith("<?php")):
            continue
        if not started and line.startswith(('"""', "'''")):
            quote = line[:3]
            if line.count(quote) < 2:
                docstring = quote
            continue
        marker = next((m for m in _MARKERS if line.startswith(m)), None)
        if marker is None:
            if closing is None:
                break
            marker = ""  # a line inside a {# ... #} or /* ... */ block
        started = True
        text = line[len(marker):].strip()
        if marker in _OPENERS and _OPENERS[marker] not in text:
            closing = _OPENERS[marker]
        elif closing is not None and (closing in text or line.startswith(closing)):
            closing = None
        for end in ("#}", "*/"):
            text = text.removesuffix(end).strip()
        block.append((number, text))
    return block


def _schema(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AnnotationError(f"{where}: the schema is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AnnotationError(f"{where}: a schema is a JSON object")
    return value


def _content_type(word: str, where: str) -> str:
    if "/" not in word or any(c.isspace() for c in word):
        raise AnnotationError(f"{where}: expected a media type such as application/json, got {word!r}")
    return word


def parse(source: str, file: str) -> Annotations:
    """The annotations of a page's source; AnnotationError (with `file:line`) for one that cannot be read."""
    found = Annotations()
    for number, text in comment_block(source[:MAX_HEAD]):
        if not text.startswith("@"):
            continue
        where = f"{file}:{number}"
        key, _, rest = text.partition(" ")
        rest = rest.strip()
        if key == "@summary":
            found.summary = rest
        elif key == "@description":
            found.description = f"{found.description}\n{rest}".strip()
        elif key == "@methods":
            methods = rest.replace(",", " ").upper().split()
            bad = [m for m in methods if m not in METHODS]
            if not methods or bad:
                raise AnnotationError(f"{where}: @methods takes HTTP methods ({', '.join(METHODS)}), got {rest!r}")
            found.methods = methods
        elif key == "@tags":
            found.tags = rest.replace(",", " ").split()
        elif key == "@operationId":
            found.operation_id = rest
        elif key == "@deprecated":
            found.deprecated = True
        elif key == "@param":
            found.parameters.append(_parameter(rest, where))
        elif key == "@body":
            content_type, _, schema = rest.partition(" ")
            found.body = Body(_content_type(content_type, where), _schema(schema.strip() or "{}", where))
        elif key == "@response":
            found.responses.append(_answer(rest, where))
        else:
            raise AnnotationError(f"{where}: unknown annotation {key} (known: @summary, @description, @methods, "
                                  "@tags, @operationId, @deprecated, @param, @body, @response)")
    return found


def _parameter(rest: str, where: str) -> Parameter:
    words = rest.split(None, 3)
    if len(words) < 3:
        raise AnnotationError(f"{where}: @param takes LOCATION NAME TYPE [required] [description]")
    location, name, kind = words[0], words[1], words[2]
    if location not in LOCATIONS:
        raise AnnotationError(f"{where}: @param location is one of {', '.join(LOCATIONS)}, got {location!r}")
    if kind.startswith("{"):
        raise AnnotationError(f"{where}: @param takes a type name ({', '.join(TYPES)}); schemas go in @body")
    if kind not in TYPES:
        raise AnnotationError(f"{where}: @param type is one of {', '.join(TYPES)}, got {kind!r}")
    tail = words[3] if len(words) > 3 else ""
    required = location == "path"
    if tail == "required" or tail.startswith("required "):
        required, tail = True, tail[len("required"):].strip()
    return Parameter(name, location, {"type": kind}, required, tail)


def _answer(rest: str, where: str) -> Answer:
    status, _, tail = rest.partition(" ")
    tail = tail.strip()
    if not (status == "default" or (len(status) == 3 and status[0] in "12345" and
                                    (status[1:].isdigit() or status[1:] == "XX"))):
        raise AnnotationError(f"{where}: @response takes a status (200, 4XX or default), got {status!r}")
    first, _, after = tail.partition(" ")
    if "/" in first and " " not in first:
        schema_text = after.strip()
        if schema_text.startswith("{"):
            return Answer(status, "", first, _schema(schema_text, where))
        return Answer(status, schema_text, first, None)
    return Answer(status, tail)


__all__ = ["LOCATIONS", "METHODS", "TYPES", "AnnotationError", "Annotations", "Answer", "Body", "Parameter",
           "comment_block", "parse"]
