"""`.jinja` pages: `about.jinja` answers `/about`, rendered by the host's template engine (dynlan.templates).

The page's context is `request`: the host API's read-only parts (method, path, query, headers, params, cookies
and the request's scalar fields). A site can so be built without code: a `.jinja` page extends and includes the
site's templates (`{% extends "_tpl/base.html" %}`) in the same sandbox, with the same budgets, as templates
rendered by Lua, Wren, Python and PHP pages.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

from dynlan.config import ConfigError
from dynlan.host import Frame, Host, PageContext, PageError
from dynlan.runtimes._interface import Availability, RuntimeConfig, check_site_options
from dynlan.templates import TEMPLATES, TemplateError, render_for, request_values

CONTENT_TYPE = "text/html; charset=utf-8"


class JinjaRuntime:
    name = "jinja"
    suffixes = (".jinja",)
    site_keys: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.pages = 0
        self.errors = 0

    def available(self) -> Availability:
        if importlib.util.find_spec("jinja2") is None:
            return Availability(False, reason="jinja2 is not installed: pip install jinja2")
        return Availability(True, version=importlib.metadata.version("jinja2"))

    def configure(self, cfg: RuntimeConfig) -> None:
        for key in cfg.options:
            raise ConfigError(f"unknown key 'jinja.{key}'")

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        options: dict[str, Any] = check_site_options(self.name, self.site_keys, server, site, source)
        return options

    async def start(self, host: Host) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def statistics(self) -> dict[str, int | float]:
        return {"pages": self.pages, "errors": self.errors, **{f"templates.{k}": v for k, v in
                                                               TEMPLATES.statistics().items()}}

    def begin(self, ctx: PageContext) -> None:
        """A template renders at once: the page never waits."""
        try:
            text = render_for(ctx, ctx.page_name, {"request": request_values(ctx)})
        except TemplateError as exc:
            self.errors += 1
            # The dev page shows the template's source around exc.line (dynlan.host._devreport).
            first = str(exc).split("\n", 1)[0]
            raise PageError(first, "", exc.file, exc.line, kind="Template error",
                            headline=first.split(": ", 1)[-1],
                            frames=[Frame(exc.file, exc.line, "template")] if exc.file and exc.line else ()) from None
        self.pages += 1
        ctx.response.set_header("content-type", CONTENT_TYPE)
        ctx.response.write(text)
