"""Protocol cores (sans-I/O) and the request model shared by every protocol."""

from __future__ import annotations

from dynlan.http._errors import HttpError, ProtocolError
from dynlan.http._events import (
    NEED_DATA,
    PAUSED,
    ConnectionEnded,
    DataReceived,
    MessageComplete,
    NeedData,
    Paused,
    RequestReceived,
)
from dynlan.http._exchange import Exchange, HttpRequest, ReplaySource, split_target
from dynlan.http._h1 import H1Protocol, H11Protocol, make_h1_protocol
from dynlan.http._headers import Headers

__all__ = [
    "NEED_DATA",
    "PAUSED",
    "ConnectionEnded",
    "DataReceived",
    "Exchange",
    "H1Protocol",
    "H11Protocol",
    "Headers",
    "HttpError",
    "HttpRequest",
    "MessageComplete",
    "NeedData",
    "Paused",
    "ProtocolError",
    "ReplaySource",
    "RequestReceived",
    "make_h1_protocol",
    "split_target",
]
