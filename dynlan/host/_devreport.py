"""What `--dev` shows about a failed request: the error, the page's own frames, the request, the budgets.

The report is built from the request's context where the page failed (dynlan.host.run_page) and
rendered by the app's one error renderer (dynlan.app._devpage). Only files inside the site root, after
symlinks, are ever read for an excerpt: a page chooses its error messages and can name any path in
them (`error("/etc/passwd:2: x", 0)` in Lua), so a path is trusted only once it resolves inside the site.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dynlan.host._context import PageContext

EXCERPT_CONTEXT = 4
"""Lines shown above and below a frame's failing line."""
MAX_FRAMES = 30
"""Frames shown at most (a deep recursion is summed up by its first ones)."""
MAX_SOURCE = 2 * 1024 * 1024
"""A file larger than this is not read for an excerpt."""
MASKED_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization", "x-api-key"})


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a page's failure, innermost first: a file of the site, a line, the function's name."""

    file: str
    line: int
    function: str = ""
    message: str = ""
    """What went wrong at this line when it differs from the error's (each error of a compile that found several)."""


@dataclass(frozen=True, slots=True)
class ShownFrame:
    file: str
    """Relative to the site root."""
    line: int
    function: str
    message: str
    excerpt: tuple[tuple[int, str], ...]
    """(line number, text) around `line`; empty when the file could not be read."""


@dataclass(frozen=True, slots=True)
class BudgetUse:
    name: str
    used: str
    """What the request used, or "" when the runtime does not measure it."""
    limit: str


@dataclass(frozen=True, slots=True)
class DevReport:
    """Everything the dev error page shows, each item once."""

    status: int
    kind: str
    """The error's kind: `KeyError`, `RuntimeException`, `Lua error`, `budget: time`..."""
    message: str
    language: str
    """The page's runtime (`lua`, `python`, ...), which picks the excerpt's highlighting."""
    page: str
    frames: tuple[ShownFrame, ...]
    """The page's own frames; the server log keeps the language's whole trace, the runtime's frames too."""
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    params: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    budget: tuple[BudgetUse, ...]
    request_id: str


def site_relative(root: str, file: str) -> str | None:
    """`file` (absolute, or relative to the site) relative to the site root, if it is a file inside the site."""
    real = os.path.realpath(os.path.join(root, file))
    if not real.startswith(root + os.sep) or not os.path.isfile(real):
        return None
    return os.path.relpath(real, root)


def read_excerpt(root: str, rel: str, line: int, context: int = EXCERPT_CONTEXT) -> tuple[tuple[int, str], ...]:
    path = os.path.join(root, rel)
    try:
        if os.path.getsize(path) > MAX_SOURCE:
            return ()
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    if not 1 <= line <= len(lines):
        return ()
    start, end = max(1, line - context), min(len(lines), line + context)
    return tuple((n, lines[n - 1]) for n in range(start, end + 1))


def shown_frames(root: str, frames: Sequence[Frame]) -> tuple[ShownFrame, ...]:
    """The frames in the site's own files, each with its excerpt; any other frame is left out."""
    out: list[ShownFrame] = []
    for frame in frames:
        rel = site_relative(root, frame.file)
        if rel is None or frame.line < 1:
            continue
        out.append(ShownFrame(rel, frame.line, frame.function, frame.message.replace(root + os.sep, ""),
                              read_excerpt(root, rel, frame.line)))
        if len(out) == MAX_FRAMES:
            break
    return tuple(out)


def _mask(name: str, value: str) -> str:
    if name not in MASKED_HEADERS:
        return value
    if name == "cookie":
        # The names help, the values are credentials.
        names = [part.strip().partition("=")[0] for part in value.split(";") if part.strip()]
        return "; ".join(f"{n}=••••" for n in names)
    scheme, _, _ = value.partition(" ")
    return f"{scheme} ••••" if scheme and scheme != value else "••••"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _instructions(n: int, language: str) -> str:
    # Lua's budget check runs every few thousand instructions, and counts only what ran up to the last one.
    return f"at least {n:,}" if language == "lua" else f"{n:,}"


def budget_use(ctx: PageContext, elapsed: float) -> tuple[BudgetUse, ...]:
    limits = ctx.limits
    usage = ctx.usage
    instructions = usage.get("instructions")
    memory = usage.get("memory")
    return (
        BudgetUse("time", f"{elapsed * 1000:.1f} ms", f"{limits.wall_time:g} s"),
        BudgetUse("instructions", _instructions(instructions, ctx.language) if instructions is not None else "",
                  f"{limits.instructions:,}"),
        BudgetUse("memory", _size(memory) if memory is not None else "", _size(limits.memory)),
        BudgetUse("output", _size(usage.get("output", ctx.response.written)), _size(limits.output_size)),
    )


_TEMPLATE_AT = re.compile(r"template (\S+), line (\d+): ")
_EXCERPT_LINE = re.compile(r"^[> ] +\d+ \| ")


def _template_frame(message: str, frames: Sequence[Frame]) -> tuple[str, tuple[Frame, ...]]:
    """A template's failure that reached a page through `template.render` names the template's line (and, in
    `--dev`, carries its excerpt): the excerpt goes, the template becomes the innermost frame."""
    lines = message.split("\n")
    kept = [line for line in lines[1:] if not _EXCERPT_LINE.match(line)]
    message = "\n".join([lines[0], *kept]).strip()
    at = _TEMPLATE_AT.search(lines[0])
    if at is None:
        return message, tuple(frames)
    frame = Frame(at.group(1), int(at.group(2)), "template")
    if frames and (frames[0].file, frames[0].line) == (frame.file, frame.line):
        return message, tuple(frames)
    return message, (frame, *frames)


def build_report(
    ctx: PageContext, status: int, kind: str, message: str, frames: Sequence[Frame], elapsed: float,
) -> DevReport:
    """The dev report of a request to a page that failed (or ran past a budget) after `elapsed` seconds."""
    request = ctx.request
    root = ctx.fs.root
    message, frames = _template_frame(message, frames)
    return DevReport(
        status=status,
        kind=kind,
        message=message.replace(root + os.sep, ""),
        language=ctx.language,
        page=ctx.page_name,
        frames=shown_frames(root, frames),
        method=request.method,
        path=request.path,
        query=tuple((k, v) for k, values in request.query.items() for v in values),
        params=tuple(ctx.params.items()),
        headers=tuple((k, _mask(k, v)) for k, v in request.headers.items()),
        budget=budget_use(ctx, elapsed),
        request_id=request.request_id,
    )
