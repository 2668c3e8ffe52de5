"""An exchange for running a page in-process (`run_page`): the request it answers and what the page sent."""

from __future__ import annotations

from dynlan.http import Headers, HttpRequest


class PageExchange:
    def __init__(self, path: str = "/page", query: str = "") -> None:
        self.request = HttpRequest("GET", path, path, query, Headers(), "1.1", "http", "h", None, "t1")
        self.status = 0
        self.body = b""
        self.bytes_sent = 0

    @property
    def response_started(self) -> bool:
        return self.status != 0

    async def receive(self) -> bytes:
        return b""

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.body += body

    async def send_body(self, data: bytes) -> None:
        self.body += data
