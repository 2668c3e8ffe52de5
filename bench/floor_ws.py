"""The floor of the WebSocket scenario: trio + wsproto echoing messages, with no host around it (what the
stack under dynlan's WebSocket pages costs by itself). Usage: floor_ws.py PORT"""

from __future__ import annotations

import sys

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)


async def handle(stream: trio.SocketStream) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return
        if not data:
            return
        ws.receive_data(data)
        out = b""
        for event in ws.events():
            if isinstance(event, Request):
                out += ws.send(AcceptConnection())
            elif isinstance(event, TextMessage | BytesMessage):
                out += ws.send(event)
            elif isinstance(event, Ping):
                out += ws.send(event.response())
            elif isinstance(event, CloseConnection):
                await stream.send_all(out + ws.send(event.response()))
                return
        if out:
            await stream.send_all(out)


if __name__ == "__main__":
    trio.run(trio.serve_tcp, handle, int(sys.argv[1]))
