"""What one request holds of real-time things: its WebSocket, its event stream, its channel subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynlan.realtime._channels import Subscription
from dynlan.realtime._handshake import Refusal
from dynlan.realtime._websocket import WebSocket

if TYPE_CHECKING:
    from dynlan.host._context import PageResponse

MAX_SUBSCRIPTIONS = 32
"""Channels one request may subscribe to."""


class Realtime:
    """Per request (`PageContext.realtime`); nothing here outlives it, and ids are the request's own."""

    __slots__ = ("websocket", "refusal", "sse", "subscriptions", "_next_id", "renewed")

    def __init__(self) -> None:
        self.websocket: WebSocket | None = None
        self.refusal: Refusal | None = None
        """A WebSocket the page asked for but could not have: the answer unless the page wrote its own."""
        self.sse = False
        """An event stream is open."""
        self.subscriptions: dict[int, Subscription] = {}
        self._next_id = 1
        self.renewed = False
        """A WebSocket message came in since the runtime last looked (`take_renewal`): per-message budgets start
        again."""

    def add(self, sub: Subscription) -> int:
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            sub.close()
            raise ValueError(f"a page subscribes to at most {MAX_SUBSCRIPTIONS} channels")
        number = self._next_id
        self._next_id += 1
        self.subscriptions[number] = sub
        return number

    def subscription(self, number: object) -> Subscription:
        sub = self.subscriptions.get(number) if isinstance(number, int) else None
        if sub is None:
            raise ValueError("not a subscription of this page")
        return sub

    def take_renewal(self) -> bool:
        renewed, self.renewed = self.renewed, False
        return renewed

    def settle(self, response: PageResponse) -> None:
        """Before the response goes out: a refused handshake answers for a page that wrote nothing."""
        refusal = self.refusal
        if refusal is None or response.written or response.status != 200 or response.streaming:
            return
        response.set_status(refusal.status)
        response.headers.set("content-type", "text/plain; charset=utf-8")
        for name, value in refusal.headers:
            response.headers.set(name, value)
        response.write(f"{refusal.status} {refusal.message}\n")

    def close(self) -> None:
        """The request has ended: its subscriptions go."""
        for sub in self.subscriptions.values():
            sub.close()
        self.subscriptions.clear()
