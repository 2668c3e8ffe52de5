"""The one place where failures become error responses."""

from __future__ import annotations

import html
import traceback
from http import HTTPStatus

from dynlan.app._sites import Site


def error_body(site: Site | None, status: int, message: str, request_id: str, detail: str | None = None) -> tuple[str, bytes]:
    """Content type and body of an error page: the site's `errors/NNN.html` when it has one."""
    if site is not None and detail is None:
        custom = site.error_pages.get(status)
        if custom is not None:
            return "text/html; charset=utf-8", custom
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>{status} {html.escape(phrase)}</title></head><body>",
        f"<h1>{status} {html.escape(phrase)}</h1><p>{html.escape(message)}</p>",
    ]
    if detail:
        parts.append(f"<pre>{html.escape(detail)}</pre>")
    parts.append(f"<p><small>request id {html.escape(request_id)}</small></p></body></html>\n")
    return "text/html; charset=utf-8", "".join(parts).encode()


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
