"""An OpenAPI 3.1 document of a site: its file routes, and what each page declares about itself."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dynlan.app._router import Route
from dynlan.openapi._annotations import MAX_HEAD, Annotations, parse

OPENAPI_VERSION = "3.1.0"
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]+")


def read_annotations(route: Route) -> Annotations:
    """A page's annotations (AnnotationError for one that cannot be read; none for a file not UTF-8)."""
    try:
        with open(route.file, encoding="utf-8") as f:
            source = f.read(MAX_HEAD)
    except (OSError, UnicodeDecodeError):
        return Annotations()
    return parse(source, route.name)


def openapi_path(route: Route) -> str:
    """`/users/[id]` as OpenAPI writes it: `/users/{id}` (an index page keeps its folder's trailing slash)."""
    segments = ["{" + s[1:-1] + "}" if s.startswith("[") and s.endswith("]") else s for s in route.pattern]
    path = "/" + "/".join(segments)
    return path + "/" if route.index and route.pattern else path


def _path_names(route: Route) -> list[str]:
    return [s[1:-1] for s in route.pattern if s.startswith("[") and s.endswith("]")]


def operation(route: Route, method: str, notes: Annotations) -> dict[str, Any]:
    """One operation of a page: what it declares, with its path parameters and a response when it declares none."""
    op: dict[str, Any] = {
        "operationId": notes.operation_id or _UNSAFE_ID.sub("_", f"{method.lower()}_{route.name}").strip("_"),
    }
    if len(notes.methods) > 1 and notes.operation_id:
        op["operationId"] = f"{notes.operation_id}_{method.lower()}"
    if notes.summary:
        op["summary"] = notes.summary
    if notes.description:
        op["description"] = notes.description
    if notes.tags:
        op["tags"] = list(notes.tags)
    if notes.deprecated:
        op["deprecated"] = True
    declared = {(p.location, p.name) for p in notes.parameters}
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _path_names(route) if ("path", name) not in declared
    ]
    for p in notes.parameters:
        item: dict[str, Any] = {"name": p.name, "in": p.location, "schema": dict(p.schema)}
        if p.required or p.location == "path":
            item["required"] = True
        if p.description:
            item["description"] = p.description
        parameters.append(item)
    if parameters:
        op["parameters"] = parameters
    if notes.body is not None and method not in ("GET", "HEAD", "DELETE", "OPTIONS", "TRACE"):
        op["requestBody"] = {"required": True, "content": {notes.body.content_type: {"schema": notes.body.schema}}}
    responses: dict[str, Any] = {}
    for answer in notes.responses:
        entry: dict[str, Any] = {"description": answer.description or _REASONS.get(answer.status, answer.status)}
        if answer.content_type is not None:
            entry["content"] = {answer.content_type: {"schema": answer.schema} if answer.schema is not None else {}}
        responses[answer.status] = entry
    if not responses:
        responses["200"] = {"description": f"what {route.name} answers"}
    op["responses"] = responses
    return op


_REASONS = {"200": "OK", "201": "Created", "204": "No Content", "301": "Moved Permanently", "302": "Found",
            "304": "Not Modified", "400": "Bad Request", "401": "Unauthorized", "403": "Forbidden",
            "404": "Not Found", "409": "Conflict", "422": "Unprocessable Content", "500": "Internal Server Error",
            "default": "any other answer"}


def document(title: str, routes: Iterable[Route], version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of a site's page routes (AnnotationError for an annotation that cannot be read)."""
    paths: dict[str, Any] = {}
    for route in sorted(routes, key=lambda r: openapi_path(r)):
        notes = read_annotations(route)
        item: dict[str, Any] = paths.setdefault(openapi_path(route), {})
        for method in notes.methods or ["GET"]:
            item[method.lower()] = operation(route, method, notes)
    return {"openapi": OPENAPI_VERSION, "info": {"title": title, "version": version}, "paths": paths}


__all__ = ["OPENAPI_VERSION", "document", "openapi_path", "operation", "read_annotations"]
