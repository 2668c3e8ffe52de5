"""Running one page: budgets, and page failures turned into the HttpError the app renders."""

from __future__ import annotations

import logging
import time

import trio

from dynlan.host._context import BudgetExceeded, PageContext, PageError
from dynlan.host._devreport import DevReport, Frame, build_report
from dynlan.http import HttpError
from dynlan.runtimes import Runtime

log = logging.getLogger("dynlan")


async def run_page(runtime: Runtime, ctx: PageContext) -> None:
    """Run `ctx.page` on `runtime` within the request's wall-time budget.

    A page that fails or overruns a budget before its response started raises
    HttpError (500/503, with the detail for `--dev`), unless a stale cached
    response stands in; one that fails after raises HttpError(close=True).
    """
    wall = ctx.limits.wall_time
    inflight = ctx.host.inflight
    request_id = ctx.request.request_id
    inflight[request_id] = (ctx.site_name, ctx.page_name, time.monotonic())
    try:
        await _run(runtime, ctx, wall)
    finally:
        ctx.close()
        inflight.pop(request_id, None)


async def _run(runtime: Runtime, ctx: PageContext, wall: float) -> None:
    started = time.monotonic()
    ctx.wall_deadline = trio.current_time() + wall
    try:
        # The budget is a cancel scope, which acts only where the page waits: a page that ends in `begin`
        # (most do) never needs one, and entering one costs more than running a small page.
        rest = runtime.begin(ctx)
        if rest is not None:
            with trio.CancelScope(deadline=ctx.wall_deadline) as scope:
                ctx.wall_scopes.append(scope)
                await rest
            if scope.cancelled_caught:
                raise BudgetExceeded("time", f"page ran past its time budget of {wall:g} s")
        await ctx.response.finish()
    except BudgetExceeded as exc:
        ctx.host.count(f"budget.{exc.kind}")
        log.warning("[%s] %s: %s", ctx.request.request_id, ctx.page_name, exc)
        detail = None
        if ctx.dev:
            detail = build_report(ctx, exc.status, f"{exc.kind} budget", str(exc), (),
                                  time.monotonic() - started)
        await _fail(ctx, exc.status, str(exc), detail)
    except PageError as exc:
        ctx.host.count("page.errors")
        # The log keeps the whole trace, host frames too; the dev page shows the page's own.
        log.error("[%s] %s: %s\n%s", ctx.request.request_id, ctx.page_name, exc, exc.detail)
        detail = None
        if ctx.dev:
            frames = exc.frames
            if not frames and exc.file and exc.line:
                frames = (Frame(exc.file, exc.line),)
            detail = build_report(ctx, 500, exc.kind or "error", exc.headline, frames,
                                  time.monotonic() - started)
        if ctx.unavailable:
            # A store the page needed is away (on_error = "closed"): try again later, not a fault of the page.
            await _fail(ctx, 503, ctx.unavailable, detail)
            return
        await _fail(ctx, 500, "the page failed", detail)


async def _fail(ctx: PageContext, status: int, message: str, detail: DevReport | None) -> None:
    exchange = ctx.exchange
    if exchange.response_started:
        # Too late for an error page: end the stream so the client sees a cut body
        # rather than a hung connection.
        raise HttpError(status, message, close=True)
    responses = ctx.host.responses
    if ctx.stale is not None and responses is not None:
        # stale-if-error (RFC 5861 §4): the last good response beats an error page.
        log.warning("[%s] %s: served the stale cached response instead", ctx.request.request_id, ctx.page_name)
        await responses.send(exchange, ctx.stale, ctx.compression, "STALE")
        return
    # The app renders the error page (the site's errors/NNN.html, or the built-in one with the detail in --dev).
    raise HttpError(status, message, detail=detail)
