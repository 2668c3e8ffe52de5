"""The annotation block of pages for their OpenAPI description (dynlan.openapi), the same in every language.
`dynlan openapi` and its documents: tests/e2e/test_openapi_cli.py."""

from __future__ import annotations

import pytest

from dynlan.openapi import AnnotationError, comment_block, parse

BLOCK = [
    "@summary Items",
    "@methods GET, post",
    "@param query limit integer required How many",
    '@body application/json {"type": "object", "required": ["name"]}',
    '@response 200 application/json {"type": "array"}',
    "@response 404 No such item",
]

PAGES = {
    "items.lua": "-- a Lua page\n" + "".join(f"-- {line}\n" for line in BLOCK) + "response.json({})\n",
    "items.wren": "".join(f"// {line}\n" for line in BLOCK) + "Response.json([])\n",
    "items.py": '"""A page.\n\nWith a docstring."""\n' + "".join(f"# {line}\n" for line in BLOCK)
                + "\ndef handle(request, response):\n    response.json([])\n",
    "items.php": "<?php\n/**\n" + "".join(f" * {line}\n" for line in BLOCK) + " */\necho '[]';\n",
    "items.jinja": "{#\n" + "".join(f"  {line}\n" for line in BLOCK) + "#}\n[]\n",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_same_block_in_every_language(name: str) -> None:
    notes = parse(PAGES[name], name)
    assert notes.summary == "Items" and notes.methods == ["GET", "POST"]
    [param] = notes.parameters
    assert (param.location, param.name, param.schema, param.required, param.description) == \
        ("query", "limit", {"type": "integer"}, True, "How many")
    assert notes.body is not None and notes.body.schema == {"type": "object", "required": ["name"]}
    assert [(a.status, a.content_type, a.schema, a.description) for a in notes.responses] == [
        ("200", "application/json", {"type": "array"}, ""), ("404", None, None, "No such item")]


def test_the_block_ends_at_the_first_line_of_code() -> None:
    assert comment_block("-- @summary A\nprint(1)\n-- @summary B\n") == [(1, "@summary A")]
    assert parse("print(1)\n-- @summary B\n", "p.lua").summary == ""


@pytest.mark.parametrize(("line", "message"), [
    ("@methods FETCH", "@methods takes HTTP methods"),
    ("@param body x string", "location is one of"),
    ("@param query x {}", "takes a type name"),
    ("@param query x str", "type is one of"),
    ("@param query", "@param takes"),
    ("@response 20 ok", "takes a status"),
    ("@response 200 application/json {not json", "not JSON"),
    ("@body application/json []", "a schema is a JSON object"),
    ("@body json {}", "media type"),
    ("@sumary typo", "unknown annotation @sumary"),
])
def test_bad_annotations_name_the_file_and_line(line: str, message: str) -> None:
    with pytest.raises(AnnotationError, match=message) as caught:
        parse(f"-- first\n-- {line}\n", "api/x.lua")
    assert str(caught.value).startswith("api/x.lua:2: ")
