"""The one host-call table: each call checked against its request and its site."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path

import pytest
import trio

from dynlan.app._devpage import render_report
from dynlan.config import LimitsConfig
from dynlan.host import (
    OPERATIONS,
    DevReport,
    Frame,
    Host,
    HostCallError,
    MemoryCache,
    MustWait,
    PageContext,
    PageError,
    SiteFs,
    call,
    call_nowait,
    run_page,
)
from dynlan.host._devreport import ShownFrame, shown_frames
from dynlan.http import Headers, HttpError, HttpRequest


class Exchange:
    """The smallest exchange a page context needs: records the response."""

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.request = HttpRequest("GET", "/p", "/p", "", headers or Headers(), "1.1", "http", "h", None, "rid-1")
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self._incoming = [body] if body else []

    @property
    def response_started(self) -> bool:
        return self.status != 0

    async def receive(self) -> bytes:
        return self._incoming.pop(0) if self._incoming else b""

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def make_ctx(host: Host, root: Path, site: str, headers: Headers | None = None, body: bytes = b"",
             namespace: str | None = None) -> PageContext:
    return PageContext(host=host, exchange=Exchange(headers, body), page=str(root / "p.lua"),  # type: ignore[arg-type]
                       page_name="p.lua", params={}, fs=SiteFs(str(root)), limits=LimitsConfig(), dev=True,
                       max_body_size=1000, site_name=site, cache_namespace=namespace)


@pytest.fixture
def sites(tmp_path: Path) -> tuple[Host, Path, Path]:
    a, b = tmp_path / "a.test", tmp_path / "b.test"
    a.mkdir()
    b.mkdir()
    (b / "_secret.txt").write_text("victim secret")
    (a / "mine.txt").write_text("attacker file")
    return Host(cache=MemoryCache()), a, b


def test_a_request_that_ended_can_call_nothing(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    assert call_nowait(ctx, "fs_read", ("mine.txt",)) == "attacker file"
    ctx.closed = True
    # What a page leaves behind (a finalizer, a fiber, a token) acts for nobody once its request is over.
    for op, args in (("fs_read", ("mine.txt",)), ("req", ("headers",)), ("write", ("x",)), ("cache_get", ("k",))):
        with pytest.raises(HostCallError, match="this request has ended"):
            call_nowait(ctx, op, args)


async def test_a_request_that_ended_cannot_wait_either(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    ctx.closed = True
    with pytest.raises(HostCallError, match="this request has ended"):
        await call(ctx, "sleep", (0,))


def test_cache_is_namespaced_per_site(sites: tuple[Host, Path, Path]) -> None:
    host, a, b = sites
    victim, attacker = make_ctx(host, b, "b.test"), make_ctx(host, a, "a.test")
    call_nowait(victim, "cache_set", ("secret", "victim secret"))
    assert call_nowait(attacker, "cache_get", ("secret",)) is None
    call_nowait(attacker, "cache_set", ("secret", "forged"))
    call_nowait(attacker, "cache_incr", ("n", 5))
    assert call_nowait(attacker, "cache_delete", ("secret",)) is True
    assert call_nowait(victim, "cache_get", ("secret",)) == "victim secret"
    assert call_nowait(victim, "cache_get", ("n",)) is None
    # A key spelled like another namespace's stored key names nothing there.
    assert call_nowait(attacker, "cache_get", ("b.test\0secret",)) is None


def test_a_shared_namespace_is_shared_only_by_the_sites_given_it(sites: tuple[Host, Path, Path]) -> None:
    host, a, b = sites
    one, two = make_ctx(host, a, "a.test", namespace="shop"), make_ctx(host, b, "b.test", namespace="shop")
    call_nowait(one, "cache_set", ("cart", [1, 2]))
    assert call_nowait(two, "cache_get", ("cart",)) == [1, 2]
    assert call_nowait(make_ctx(host, b, "b.test"), "cache_get", ("cart",)) is None


def test_files_only_of_the_requests_site(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    attacker = make_ctx(host, a, "a.test")
    for path in ("../b.test/_secret.txt", str(a.parent / "b.test" / "_secret.txt"), "/etc/passwd"):
        with pytest.raises(HostCallError):
            call_nowait(attacker, "fs_read", (path,))
    (a / "link.txt").symlink_to(a.parent / "b.test" / "_secret.txt")
    with pytest.raises(HostCallError, match="outside the site root"):
        call_nowait(attacker, "fs_read", ("link.txt",))


def test_unknown_operations_are_refused(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    with pytest.raises(HostCallError, match="unknown host call"):
        call_nowait(make_ctx(host, a, "a.test"), "exec", ("id",))


def test_waiting_calls_say_what_to_await(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test", Headers([("content-length", "2")]), b"{}")
    with pytest.raises(MustWait) as wait:
        call_nowait(ctx, "json")
    assert wait.value.op == "json"
    with pytest.raises(MustWait):
        call_nowait(ctx, "sleep", (0,))
    assert all(row.run is not None or row.arun is not None for row in OPERATIONS.values())


async def test_waiting_calls_answer_through_call(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test", Headers([("content-length", "7")]), b'{"a":1}')
    assert await call(ctx, "json") == {"a": 1}
    assert call_nowait(ctx, "body") == b'{"a":1}'


@pytest.mark.parametrize("status", [100, 101, 103, 199, 600, True, "200"])
def test_pages_cannot_send_interim_or_invalid_statuses(sites: tuple[Host, Path, Path], status: object) -> None:
    host, a, _ = sites
    with pytest.raises(HostCallError, match="invalid status"):
        call_nowait(make_ctx(host, a, "a.test"), "status", (status,))


@pytest.mark.parametrize("name, value", [
    ("x a", "v"), ("x:a", "v"), ("", "v"), ("x\r\nset-cookie", "v"), ("é", "v"), ("x(a)", "v"),
    ("x-a", "v\r\nset-cookie: a=b"), ("x-a", "v\x00"), ("x-a", "v\x7f"), ("x-a", "v\x01"), ("x-a", "\n"),
])
def test_pages_cannot_send_invalid_header_fields(sites: tuple[Host, Path, Path], name: str, value: str) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    for op in ("set_header", "add_header"):
        with pytest.raises(HostCallError, match="invalid"):
            call_nowait(ctx, op, (name, value))


def test_valid_header_fields_pass(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    call_nowait(ctx, "set_header", ("x-a_b.c~!#$%&'*+^`|", "tab\tand UTF-8 é"))
    assert call_nowait(ctx, "get_header", ("X-A_B.C~!#$%&'*+^`|",)) == "tab\tand UTF-8 é"


def test_dev_excerpts_only_of_the_sites_own_files(sites: tuple[Host, Path, Path]) -> None:
    host, a, b = sites
    ctx = make_ctx(host, a, "a.test")
    (a / "page.lua").write_text("one\ntwo\nthree\n")
    shown = shown_frames(ctx.fs.root, [Frame(str(a / "page.lua"), 2, "main chunk")])
    assert shown == (ShownFrame("page.lua", 2, "main chunk", "", ((1, "one"), (2, "two"), (3, "three"))),)
    for named in ("/etc/passwd", "../b.test/_secret.txt", str(b / "_secret.txt")):
        assert shown_frames(ctx.fs.root, [Frame(named, 1)]) == ()


class Waiting:
    """A runtime whose page writes, then (with `rest`) waits for `rest` seconds before it writes again."""

    name = "wait"
    suffixes = (".w",)

    def __init__(self, rest: float | None) -> None:
        self.rest = rest

    def begin(self, ctx: PageContext) -> Awaitable[None] | None:
        ctx.response.write("begun ")
        return None if self.rest is None else self._go_on(ctx, self.rest)

    async def _go_on(self, ctx: PageContext, seconds: float) -> None:
        await trio.sleep(seconds)
        ctx.response.write("and went on")


async def test_a_page_that_ends_in_begin_runs_without_a_wall_time_scope(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    await run_page(Waiting(None), ctx)  # type: ignore[arg-type]
    assert ctx.exchange.body == b"begun " and ctx.wall_scopes == []  # type: ignore[attr-defined]


async def test_what_begin_leaves_to_await_runs_within_the_wall_time(sites: tuple[Host, Path, Path]) -> None:
    host, a, _ = sites
    ctx = make_ctx(host, a, "a.test")
    await run_page(Waiting(0), ctx)  # type: ignore[arg-type]
    assert ctx.exchange.body == b"begun and went on" and len(ctx.wall_scopes) == 1  # type: ignore[attr-defined]
    ctx = make_ctx(host, a, "a.test")
    ctx.limits = LimitsConfig(wall_time=0.2)
    with trio.fail_after(30):
        with pytest.raises(HttpError) as failed:
            await run_page(Waiting(3600), ctx)  # type: ignore[arg-type]
    assert failed.value.status == 503 and "time budget of 0.2 s" in failed.value.message
    assert ctx.closed and host.inflight == {}


async def test_dev_error_page_does_not_show_files_outside_the_site(sites: tuple[Host, Path, Path]) -> None:
    host, a, b = sites

    class Failing:
        name = "fail"
        suffixes = (".x",)

        def begin(self, ctx: PageContext) -> None:
            raise PageError("boom", "trace", str(b / "_secret.txt"), 1)

    ctx = make_ctx(host, a, "a.test")
    with pytest.raises(HttpError) as failed:
        await run_page(Failing(), ctx)  # type: ignore[arg-type]
    # What the error page shows in --dev is the error's report, rendered.
    assert failed.value.status == 500 and isinstance(failed.value.detail, DevReport)
    shown = render_report(failed.value.detail).decode()
    assert "victim secret" not in shown and "boom" in shown and failed.value.detail.frames == ()
    assert ctx.closed and host.inflight == {}
