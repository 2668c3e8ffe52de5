"""Real-time pages: WebSockets (RFC 6455, RFC 8441), server-sent events and channels (docs/websocket.md)."""

from dynlan.realtime._channels import ChannelHub, Subscription, hub_for
from dynlan.realtime._handshake import (
    Offer,
    Refusal,
    accept_headers,
    asks_websocket,
    is_realtime,
    offer,
)
from dynlan.realtime._sse import format_comment, format_event
from dynlan.realtime._state import Realtime
from dynlan.realtime._websocket import Received, Tunnel, WebSocket

__all__ = [
    "ChannelHub", "Offer", "Realtime", "Received", "Refusal", "Subscription", "Tunnel", "WebSocket",
    "accept_headers", "asks_websocket", "format_comment", "format_event", "hub_for", "is_realtime", "offer",
]
