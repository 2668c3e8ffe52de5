"""WebSockets, channels and event streams as Python pages see them: `websocket`, `channel`, `response.sse()`.

Every call goes through the page's `Port` to the host-call table (`dynlan.realtime`
holds the operations). What waits on the network is `async`: a page that holds a
WebSocket or an event stream is an `async def handle` (docs/websocket.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynlan.runtimes.python._api import Port


class Subscription:
    """Messages of one channel of the site, for this request."""

    __slots__ = ("_port", "id", "name")

    def __init__(self, port: Port, number: int, name: str) -> None:
        self._port = port
        self.id = number
        self.name = name

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message; None when `timeout` seconds passed first."""
        message: str | bytes | None = await self._port.acall("channel_receive", self.id, timeout)
        return message

    def close(self) -> None:
        self._port.call("channel_unsubscribe", self.id)


class Channels:
    """`channel`: publish to, and subscribe to, the site's channels (in every worker; across machines with Redis)."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    def publish(self, name: str, message: str | bytes) -> None:
        self._port.call("channel_publish", name, message)

    def subscribe(self, name: str) -> Subscription:
        return Subscription(self._port, self._port.call("channel_subscribe", name), name)


class WebSocket:
    """The request's accepted WebSocket."""

    __slots__ = ("_port", "protocol", "kind", "channel")

    def __init__(self, port: Port, protocol: str) -> None:
        self._port = port
        self.protocol = protocol
        self.kind: str | None = None
        """What the last `receive` got: `text`, `binary`, `channel` (from `channel`) or `timeout`."""
        self.channel: str | None = None

    async def receive(self, *subscriptions: Subscription, timeout: float | None = None) -> str | bytes | None:
        """The next message from the peer (str for text, bytes for binary) or from one of `subscriptions`;
        None once the connection is closed (or, with `kind == "timeout"`, when `timeout` passed)."""
        answer = await self._port.acall("ws_receive", [s.id for s in subscriptions], timeout)
        if answer is None:
            self.kind = self.channel = None
            return None
        self.kind, self.channel = answer.get("kind"), answer.get("channel")
        data: str | bytes | None = answer.get("data")
        return data

    async def send(self, message: str | bytes) -> bool:
        """A text message for `str`, a binary one for `bytes`; False once the connection is closed."""
        sent: bool = await self._port.acall("ws_send", message, "binary" if isinstance(message, bytes) else "text")
        return sent

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._port.acall("ws_close", code, reason)

    def info(self) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self._port.call("ws_info")
        return info


class WebSockets:
    """`websocket`: `ws = await websocket.accept()` (None when the request is no WebSocket handshake: the answer
    is then 426 unless the page writes its own)."""

    __slots__ = ("_port",)

    def __init__(self, port: Port) -> None:
        self._port = port

    async def accept(self, protocol: str | list[str] | None = None) -> WebSocket | None:
        answer = await self._port.acall("ws_accept", {"protocol": protocol} if protocol else None)
        return None if answer is None else WebSocket(self._port, answer["protocol"])


class EventStream:
    """The response as an event stream (`await response.sse()`)."""

    __slots__ = ("_port", "last_event_id")

    def __init__(self, port: Port, last_event_id: str) -> None:
        self._port = port
        self.last_event_id = last_event_id
        """The `Last-Event-ID` a reconnecting client sent ("" when none)."""

    async def send(self, data: Any = None, *, event: str | None = None, id: str | int | None = None,
                   retry: int | None = None) -> None:
        fields = {k: v for k, v in (("data", data), ("event", event), ("id", id), ("retry", retry)) if v is not None}
        await self._port.acall("sse_send", fields)

    async def comment(self, text: str = "") -> None:
        await self._port.acall("sse_comment", text)


async def start_event_stream(port: Port) -> EventStream:
    answer = await port.acall("sse_start")
    return EventStream(port, answer["last_event_id"])
