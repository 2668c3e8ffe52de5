"""A site's OpenAPI document served at `/.well-known/openapi.json`, and requests checked against it.

Both follow the site's pages as they change: the document is built again when the router's routes or a page
file (its size or modification time) changed, and a page's annotations are read again when its file changed;
either is checked at most once a second (`CHECK_INTERVAL`), so a request costs a dictionary lookup.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from dynlan.http import HttpError, HttpRequest
from dynlan.openapi._annotations import MAX_HEAD, AnnotationError, Annotations, Parameter, parse

if TYPE_CHECKING:
    # The pipeline imports this module: the router (and the document, built on it) are the app's.
    from dynlan.app._router import Route, Router

WELL_KNOWN = "/.well-known/openapi.json"
CHECK_INTERVAL = 1.0
"""Seconds a document or a page's checks are used before the files are looked at again."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_MAX_SITES = 1024
_MAX_PAGES = 10000


def _stamp(file: str) -> tuple[int, int] | None:
    try:
        st = os.stat(file)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def pointer(*parts: object) -> str:
    """A JSON pointer (RFC 6901) of the parts: `/body/items/0/name`."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(slots=True)
class _Served:
    checked: float
    router: Router
    stamps: tuple[tuple[str, tuple[int, int] | None], ...]
    body: bytes


@dataclass(slots=True)
class PageChecks:
    """What a request to one annotated page must satisfy: its parameters and its request body."""

    parameters: list[tuple[Parameter, Draft202012Validator]]
    body_type: str | None
    body: Draft202012Validator | None

    @property
    def empty(self) -> bool:
        return not self.parameters and self.body is None


@dataclass(slots=True)
class _Known:
    checked: float
    stamp: tuple[int, int] | None
    checks: PageChecks | None
    """None: the page declares nothing to check (or its annotations cannot be read: `dynlan openapi` says why)."""


def _validator(schema: dict[str, Any]) -> Draft202012Validator | None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None  # a schema that is no JSON Schema checks nothing, as a page without annotations
    return Draft202012Validator(schema)


def page_checks(notes: Annotations) -> PageChecks | None:
    params = [(p, v) for p in notes.parameters if (v := _validator(p.schema)) is not None]
    body = _validator(notes.body.schema) if notes.body is not None else None
    checks = PageChecks(params, notes.body.content_type if notes.body is not None else None, body)
    return None if checks.empty else checks


def _coerce(text: str, kind: Any) -> Any:
    """A parameter's text as the value its declared type reads it as (the text itself when it does not)."""
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind == "object":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _first_error(validator: Draft202012Validator, value: Any, *where: object) -> str | None:
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    return f"{pointer(*where, *error.absolute_path)}: {error.message}"


def _json_media(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


class OpenApiService:
    """The documents of the sites that serve one, and the checks of the pages of sites that validate."""

    def __init__(self) -> None:
        self._served: dict[str, _Served] = {}
        self._pages: dict[str, _Known] = {}

    def document(self, name: str, root: str, router: Router | None) -> bytes:
        """The site's document as JSON (503 while an annotation cannot be read: `dynlan openapi` names it)."""
        now = time.monotonic()
        known = self._served.get(root)
        if known is not None and known.router is router and now - known.checked < CHECK_INTERVAL:
            return known.body
        if router is not None:
            router.maybe_rescan()
        routes = router.routes() if router is not None else []
        stamps = tuple((r.file, _stamp(r.file)) for r in routes)
        if known is not None and known.router is router and known.stamps == stamps:
            known.checked = now
            return known.body
        from dynlan.openapi._document import document

        try:
            body = json.dumps(document(name, routes), indent=2, ensure_ascii=False).encode()
        except AnnotationError as exc:
            raise HttpError(503, f"the OpenAPI document cannot be built: {exc}") from None
        if len(self._served) >= _MAX_SITES:
            self._served.clear()
        if router is not None:
            self._served[root] = _Served(now, router, stamps, body)
        return body

    def checks(self, route: Route) -> PageChecks | None:
        """The checks of a page, read again when its file changed (checked at most once a second)."""
        now = time.monotonic()
        known = self._pages.get(route.file)
        if known is not None and now - known.checked < CHECK_INTERVAL:
            return known.checks
        stamp = _stamp(route.file)
        if known is not None and known.stamp == stamp:
            known.checked = now
            return known.checks
        checks = None
        try:
            with open(route.file, encoding="utf-8") as f:
                checks = page_checks(parse(f.read(MAX_HEAD), route.name))
        except (OSError, UnicodeDecodeError, AnnotationError):
            pass
        if len(self._pages) >= _MAX_PAGES:
            self._pages.clear()
        self._pages[route.file] = _Known(now, stamp, checks)
        return checks

    @staticmethod
    def check_parameters(checks: PageChecks, request: HttpRequest, path_params: dict[str, str]) -> None:
        """400 naming the first parameter that is missing or does not match its schema (`/query/limit`)."""
        cookies: dict[str, list[str]] | None = None
        for param, validator in checks.parameters:
            if param.location == "query":
                values = request.query.get(param.name, [])
            elif param.location == "header":
                values = request.headers.get_all(param.name)
            elif param.location == "path":
                values = [path_params[param.name]] if param.name in path_params else []
            else:
                if cookies is None:
                    cookies = {}
                    for field in "; ".join(request.headers.get_all("cookie")).split(";"):
                        key, sep, text = field.strip().partition("=")
                        if sep:
                            cookies.setdefault(key, []).append(text)
                values = cookies.get(param.name, [])
            where = pointer(param.location, param.name)
            if not values:
                if param.required:
                    raise HttpError(400, f"{where}: required")
                continue
            kind = param.schema.get("type")
            value = values if kind == "array" else _coerce(values[0], kind)
            message = _first_error(validator, value, param.location, param.name)
            if message is not None:
                raise HttpError(400, message)

    @staticmethod
    def check_body(checks: PageChecks, request: HttpRequest, body: bytes) -> None:
        """400 naming the first field of the body that does not match its schema (`/body/items/0/name`)."""
        if checks.body is None or checks.body_type is None:
            return
        if not body:
            raise HttpError(400, f"/body: required ({checks.body_type})")
        media = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
        if media != checks.body_type.lower():
            raise HttpError(400, f"/body: expected {checks.body_type}, got {media or 'no content type'}")
        if not _json_media(media):
            return
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise HttpError(400, f"/body: not valid JSON: {exc}") from None
        message = _first_error(checks.body, value, "body")
        if message is not None:
            raise HttpError(400, message)


__all__ = ["BODY_METHODS", "CHECK_INTERVAL", "WELL_KNOWN", "OpenApiService", "PageChecks", "page_checks", "pointer"]
