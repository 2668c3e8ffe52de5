"""Jinja2 templates for every page language: one sandboxed environment per site.

Pages in Lua, Wren, Python and PHP render templates through the host call `template_render` (dynlan.host._calls),
and `.jinja` files are pages of their own (dynlan.runtimes.jinja). Everything here runs in the request's task
(synchronously, as a Lua page computes): rendering checks the request's deadline as it goes, so a template that
loops without end stops at the page's wall time, and its output is bounded by the page's output budget.

A template cannot reach the host's Python objects: Jinja's sandbox refuses underscore attributes (`''.__class__`,
the server-side template injection escape), unsafe methods and calls, and ranges over 100 000 items; a template
sees only the values it is given (structured values: strings, numbers, booleans, lists, maps).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from dynlan.host._context import BudgetExceeded

MAX_SITES = 256
"""Site environments kept (each holds its compiled templates); the least recently used goes first."""
MAX_TEMPLATES = 400
"""Compiled templates kept per site."""
MAX_SOURCE = 4 * 1024 * 1024
"""Bytes of template source a file may have."""
MAX_DEPTH = 32
"""Nested includes/extends a render may reach (a template including itself ends here, not in a RecursionError)."""
ESCAPED_NOT = ("txt", "text", "md", "csv", "tsv")
"""Template suffixes rendered without HTML escaping; every other one (.html, .jinja, .xml, ...) is escaped."""


class TemplateError(Exception):
    """A template failed: not found, outside the site, a syntax error or an error while rendering. `file` is the
    template's path in the site and `line` its line, when they are known."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


class _SiteLoader(jinja2.BaseLoader):
    """Templates are files of the site, named by their path from the site root (`_tpl/list.html`). A name that
    is absolute, holds a `..` segment, a backslash or a NUL, or a dot file (`.env`), or that leads out of the
    root by a symlink, is refused: a page or a template cannot read the server's or another site's files."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def path_of(self, name: str) -> str:
        if not name or "\\" in name or "\0" in name or name.startswith("/") or os.path.isabs(name):
            raise TemplateError(f"template name {name!r} must be a path inside the site, like '_tpl/page.html'")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts or any(p == ".." or p.startswith(".") for p in parts):
            raise TemplateError(f"template name {name!r} must be a path inside the site, like '_tpl/page.html'")
        real = os.path.realpath(os.path.join(self.root, *parts))
        if not real.startswith(self.root + os.sep):
            raise TemplateError(f"template {name!r} is outside the site")
        return real

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        real = self.path_of(template)
        try:
            st = os.stat(real)
            if not os.path.isfile(real):
                raise jinja2.TemplateNotFound(template)
            if st.st_size > MAX_SOURCE:
                raise TemplateError(f"template {template!r} is larger than {MAX_SOURCE} bytes")
            with open(real, encoding="utf-8") as f:
                source = f.read()
        except (FileNotFoundError, NotADirectoryError):
            raise jinja2.TemplateNotFound(template) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read template {template!r}: {exc}") from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)

        def uptodate() -> bool:
            # auto_reload asks this on every get_template (also for the parents and includes, each by its own
            # name at render time): an edited file is compiled again on its next use.
            try:
                now = os.stat(real)
            except OSError:
                return False
            return (now.st_mtime_ns, now.st_size, now.st_ino) == stamp

        return source, real, uptodate


class _Budget:
    """What one render may spend: until `deadline` (time.monotonic) and `output` characters."""

    __slots__ = ("deadline", "output", "depth")

    def __init__(self, deadline: float, output: int) -> None:
        self.deadline = deadline
        self.output = output
        self.depth = 0

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded("time", "template rendering ran past the page's time budget")


_current = threading.local()


def _budget() -> _Budget | None:
    return getattr(_current, "budget", None)


def _check() -> None:
    budget = _budget()
    if budget is not None:
        budget.check()


def _checked(items: range) -> Iterator[int]:
    for n, item in enumerate(items):
        if n & 255 == 0:
            _check()
        yield item


def _range(*args: int) -> Iterator[int]:
    """`range` in templates: Jinja's (at most 100 000 items), checking the deadline as it goes, so that nested
    loops cannot multiply their way past the page's wall time."""
    return _checked(safe_range(*args))


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with the deadline checked at every call and operator, and `*`/`**` bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        _check()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check()
        budget = _budget()
        limit = budget.output if budget is not None else MAX_SOURCE
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > limit:
                    raise SecurityError(f"a repetition of {len(seq) * n} items is over the limit")
        elif operator == "**" and isinstance(right, int | float) and abs(right) > 1000:
            raise SecurityError("an exponent over 1000 is not allowed in templates")
        return super().call_binop(context, operator, left, right)


def _autoescape(name: str | None) -> bool:
    return name is None or name.rsplit(".", 1)[-1].lower() not in ESCAPED_NOT


class Templates:
    """The template environments of a server's sites, by site root. Compiled templates are kept per site and
    compiled again when their file changes (Jinja's auto_reload with the loader's uptodate check)."""

    def __init__(self) -> None:
        self._sites: OrderedDict[str, _Environment] = OrderedDict()
        self._lock = threading.Lock()
        """A synchronous Python page renders on its own thread while the event loop renders for others."""
        self.renders = 0
        self.errors = 0

    def environment(self, root: str) -> _Environment:
        with self._lock:
            env = self._sites.get(root)
            if env is not None:
                self._sites.move_to_end(root)
                return env
            return self._new_environment(root)

    def _new_environment(self, root: str) -> _Environment:
        env = _Environment(
            loader=_SiteLoader(root),
            autoescape=_autoescape,
            auto_reload=True,
            cache_size=MAX_TEMPLATES,
            undefined=jinja2.Undefined,
        )
        env.globals["range"] = _range
        self._sites[root] = env
        if len(self._sites) > MAX_SITES:
            self._sites.popitem(last=False)
        return env

    def statistics(self) -> dict[str, int]:
        return {"sites": len(self._sites), "renders": self.renders, "errors": self.errors}

    def render(self, root: str, name: str, values: dict[str, Any], *, deadline: float, output: int,
               dev: bool = False) -> str:
        """`name` rendered with `values`, within `deadline` (time.monotonic()) and `output` characters.

        Raises TemplateError (with the template's file and line when known) and BudgetExceeded."""
        env = self.environment(root)
        outer = _budget()
        budget = _Budget(deadline if outer is None else min(deadline, outer.deadline), output)
        if outer is not None:
            # A page rendering from inside a template's call (a Python page's function passed in): one budget.
            budget.depth = outer.depth + 1
            if budget.depth > MAX_DEPTH:
                raise TemplateError("templates nested too deep")
        _current.budget = budget
        try:
            template = env.get_template(name)
            chunks: list[str] = []
            append = chunks.append
            spent = 0
            for chunk in template.generate(values):
                spent += len(chunk)
                append(chunk)
                # The deadline every 64 pieces of output (and at every call, operator and range step).
                if spent > output or len(chunks) & 63 == 0:
                    if spent > output:
                        raise BudgetExceeded("output", f"template {name!r} rendered more than the page's output "
                                             "budget")
                    budget.check()
            self.renders += 1
            return "".join(chunks)
        except (BudgetExceeded, TemplateError):
            self.errors += 1
            raise
        except jinja2.TemplateSyntaxError as exc:
            self.errors += 1
            raise _located(root, exc.message or str(exc), exc.filename, exc.lineno, exc.source, dev) from None
        except jinja2.TemplateNotFound as exc:
            self.errors += 1
            raise TemplateError(f"template not found: {exc.name}") from None
        except RecursionError:
            self.errors += 1
            raise TemplateError(f"template {name!r}: includes or macros nested too deep") from None
        except Exception as exc:  # noqa: BLE001 (any error of the template's own code: undefined, types, security)
            self.errors += 1
            file, line = _template_frame(root, exc)
            raise _located(root, f"{type(exc).__name__}: {exc}", file, line, None, dev) from None
        finally:
            _current.budget = outer


def _template_frame(root: str, exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost frame of `exc`'s traceback that is a template of the site (Jinja rewrites the traceback so
    that template code shows with its file and line)."""
    found: tuple[str | None, int | None] = (None, None)
    prefix = os.path.realpath(root) + os.sep
    for frame, line in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith(prefix):
            found = (filename, line)
    return found


def _located(root: str, message: str, filename: str | None, line: int | None, source: str | None,
             dev: bool) -> TemplateError:
    prefix = os.path.realpath(root) + os.sep
    rel = filename[len(prefix):] if filename and filename.startswith(prefix) else None
    where = f"template {rel}" + (f", line {line}" if line else "") if rel else "template"
    text = f"{where}: {message}"
    if dev and rel and line:
        excerpt = _excerpt(source, filename, line)
        if excerpt:
            text = f"{text}\n{excerpt}"
    return TemplateError(text, rel, line)


def _excerpt(source: str | None, filename: str | None, line: int, context: int = 2) -> str:
    if source is None and filename:
        try:
            with open(filename, encoding="utf-8", errors="replace") as f:
                source = f.read(MAX_SOURCE)
        except OSError:
            return ""
    lines = (source or "").splitlines()
    start, end = max(1, line - context), min(len(lines), line + context)
    width = len(str(end))
    return "\n".join(f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}" for n in range(start, end + 1))


__all__ = ["ESCAPED_NOT", "MAX_DEPTH", "MAX_SOURCE", "TemplateError", "Templates"]
