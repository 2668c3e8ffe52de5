"""An example runtime adapter: `.tmpl` pages are `string.Template` text.

A page such as `hello.tmpl` containing `Hello, ${q_name}! You asked for $path.`
is rendered with the request's fields: `$method`, `$path`, `$host`, `$id`,
`q_<name>` for query parameters, `h_<name>` for headers (dashes become
underscores), `p_<name>` for route parameters, and `cache_<key>` for values
from the host cache. Unknown names stay as they are (`safe_substitute`).
"""

from __future__ import annotations

import os
import string
from collections.abc import Awaitable
from typing import Any

from dynlan.config import ConfigError
from dynlan.host import Host, PageContext, PageError
from dynlan.runtimes import Availability, RuntimeConfig, check_site_options


class TemplateRuntime:
    name = "template"
    suffixes = (".tmpl",)
    site_keys = frozenset({"content_type"})
    """A site's `[template]` table may set its pages' content type (it concerns only the site's own pages)."""

    def __init__(self) -> None:
        self.content_type = "text/plain; charset=utf-8"
        self.host: Host | None = None
        self.rendered = 0
        self._compiled: dict[str, tuple[int, string.Template]] = {}

    def available(self) -> Availability:
        # Nothing to import or start: always available.
        return Availability(True, version="1.0")

    def configure(self, cfg: RuntimeConfig) -> None:
        for key, value in cfg.options.items():
            if key != "content_type" or not isinstance(value, str):
                raise ConfigError(f"unknown or invalid key 'template.{key}'")
            self.content_type = value

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        options: dict[str, Any] = check_site_options(self.name, self.site_keys, server, site, source)
        value = site.get("content_type", self.content_type)
        if not isinstance(value, str) or not value.isprintable():
            # It goes out as a response header: no line breaks (header injection).
            raise ConfigError(f"{source}: template.content_type: expected a one-line string, got {value!r}")
        return options

    async def start(self, host: Host) -> None:
        self.host = host

    async def aclose(self) -> None:
        self._compiled.clear()

    def statistics(self) -> dict[str, int | float]:
        return {"rendered": self.rendered, "compiled": len(self._compiled)}

    def _template(self, path: str) -> string.Template:
        mtime = os.stat(path).st_mtime_ns
        cached = self._compiled.get(path)
        if cached is None or cached[0] != mtime:
            with open(path, encoding="utf-8") as f:
                cached = (mtime, string.Template(f.read()))
            self._compiled[path] = cached
        return cached[1]

    def begin(self, ctx: PageContext) -> Awaitable[None]:
        # The page may read the cache, which can wait: all of it runs in the coroutine.
        return self._render(ctx)

    async def _render(self, ctx: PageContext) -> None:
        try:
            template = self._template(ctx.page)
        except (OSError, UnicodeDecodeError) as exc:
            raise PageError(f"cannot read template: {exc}") from None
        values: dict[str, Any] = dict(ctx.request_info())
        values.update({f"q_{k}": v for k, v in ctx.query_first().items()})
        values.update({f"h_{k.replace('-', '_')}": v for k, v in ctx.request.headers.as_dict().items()})
        values.update({f"p_{k}": v for k, v in ctx.params.items()})
        for name in template.get_identifiers() if hasattr(template, "get_identifiers") else []:
            if name.startswith("cache_"):
                value = await ctx.cache.get(name[len("cache_"):])
                if value is not None:
                    values[name] = value
        ctx.response.set_header("content-type", ctx.options.get("content_type", self.content_type))
        ctx.response.write(template.safe_substitute(values))
        self.rendered += 1
