"""Error responses: the one renderer for every failure the app answers.

Page errors, budget overruns, 4xx answers of site rules, and 404/405/413 of
the pipeline all come here. A site's page for a status is looked up in its
`errors/` folder: `NNN.html`, then `4xx.html` or `5xx.html`; without one the
built-in page is sent, which names the request id. In `--dev` the dev page
(dynlan.app._devpage: the error, the page's frames with excerpts, the request,
the budgets) wins over the site's page; without `--dev` no detail is ever made.
"""

from __future__ import annotations

import html
import logging
import os
import stat as statmod
import traceback
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

from dynlan import static
from dynlan.app._devpage import render_host_error, render_report
from dynlan.host._devreport import DevReport
from dynlan.http import Exchange

if TYPE_CHECKING:
    from dynlan.app._sites import Site

log = logging.getLogger("dynlan")

ERRORS_FOLDER = "errors"
MAX_ERROR_PAGE = 1024 * 1024
"""Larger error pages are not used (the built-in page is sent): an error answer stays cheap."""

HTML = "text/html; charset=utf-8"


class ErrorPages:
    """A site's error pages, read when first needed and read again when they change.

    Each lookup stats the candidate files (one or two `stat` calls, on the error
    path only), so an edited page, a new one and a removed one take effect
    without a restart; the content is read again only when the file's identity
    (inode, size, mtime) differs from the copy held.
    """

    def __init__(self, root: str, symlinks: str = "inside") -> None:
        self.root = root
        self.folder = os.path.join(root, ERRORS_FOLDER)
        self.symlinks = symlinks
        self._held: dict[str, tuple[tuple[int, int, int], bytes]] = {}

    def page(self, status: int) -> bytes | None:
        """The site's page for `status` (`errors/404.html`, else `errors/4xx.html`), or None."""
        for name in (f"{status}.html", f"{status // 100}xx.html"):
            body = self._read(name)
            if body is not None:
                return body
        return None

    def _read(self, name: str) -> bytes | None:
        path = os.path.join(self.folder, name)
        try:
            st = os.stat(path)
        except OSError:
            self._held.pop(name, None)
            return None
        if not statmod.S_ISREG(st.st_mode) or st.st_size > MAX_ERROR_PAGE:
            return None
        signature = static.FileCache.signature(st)
        held = self._held.get(name)
        if held is not None and held[0] == signature:
            return held[1]
        # The site's link policy holds for its error pages as for any file it serves.
        if static.link_refusal(self.root, path, self.symlinks) is not None:
            return None
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_ERROR_PAGE + 1)
        except OSError:
            return None
        if len(data) > MAX_ERROR_PAGE:
            return None
        self._held[name] = (signature, data)
        return data


def builtin_page(status: int, message: str, request_id: str, detail: str | DevReport | None = None) -> bytes:
    """The built-in error page: status, message and request id; in `--dev`, the dev page of the detail."""
    if isinstance(detail, DevReport):
        return render_report(detail)
    if detail:
        return render_host_error(status, message, request_id, detail)
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{status} {html.escape(phrase)}</title></head><body>"
        f"<h1>{status} {html.escape(phrase)}</h1><p>{html.escape(message)}</p>"
        f"<p><small>request id {html.escape(request_id)}</small></p></body></html>\n"
    ).encode()


def error_response(
    site: Site | None, status: int, message: str, request_id: str, detail: str | DevReport | None = None,
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of the error answer for `status`: the site's page, or the built-in one."""
    body = site.errors.page(status) if site is not None and not detail else None
    if body is None:
        body = builtin_page(status, message, request_id, detail)
    return [("content-type", HTML), ("content-length", str(len(body))), ("cache-control", "no-store")], body


async def send_error(
    exchange: Exchange, site: Site | None, status: int, message: str, *,
    detail: str | DevReport | None = None, headers: Sequence[tuple[str, str]] = (), close: bool = False,
) -> None:
    """Answer the exchange with the error page for `status` (plus `headers`, e.g. Allow or WWW-Authenticate)."""
    out, body = error_response(site, status, message, exchange.request.request_id, detail)
    out.extend(headers)
    if close:
        out.append(("connection", "close"))
    await exchange.respond(status, out, body)


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
