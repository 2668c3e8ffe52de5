"""The floor of the WebSocket scenario: trio + `websockets`' sans-I/O protocol echoing messages, with no host around
it (what the stack under dynlan's WebSocket pages costs by itself; text is checked as UTF-8, as the server does).
Usage: floor_ws.py PORT"""

from __future__ import annotations

import sys

import trio
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol


def _echo(ws: ServerProtocol, opcode: Opcode, payload: bytes) -> None:
    if opcode is Opcode.TEXT:
        ws.send_text(payload.decode().encode())
    else:
        ws.send_binary(payload)


async def handle(stream: trio.SocketStream) -> None:
    ws = ServerProtocol(max_size=None)
    parts: list[bytes] = []
    first = Opcode.TEXT
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return
        if data:
            ws.receive_data(data)
        else:
            ws.receive_eof()
        for event in ws.events_received():
            if isinstance(event, Request):
                ws.send_response(ws.accept(event))
            elif isinstance(event, Frame):
                # Pings and Closes are answered by the protocol; data frames are echoed whole.
                if event.opcode is Opcode.CONT:
                    parts.append(event.data)
                    if event.fin:
                        _echo(ws, first, b"".join(parts))
                        parts = []
                elif event.opcode is Opcode.TEXT or event.opcode is Opcode.BINARY:
                    if event.fin:
                        _echo(ws, event.opcode, event.data)
                    else:
                        first, parts = event.opcode, [event.data]
        out = ws.data_to_send()
        if out:
            try:
                await stream.send_all(b"".join(out))
            except trio.BrokenResourceError:
                return
        if not data or ws.close_expected():
            return


if __name__ == "__main__":
    trio.run(lambda: trio.serve_tcp(handle, int(sys.argv[1]), host="127.0.0.1"))
