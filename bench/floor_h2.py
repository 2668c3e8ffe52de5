"""The floor of dynlan's HTTP/2 stack: trio + h2 answering 4 KiB from memory over h2c (prior knowledge).

One task per connection reads frames, answers each request when it ends and writes what h2 has
to send: no stream tasks, no flow-control waits (4 KiB fits every window). Usage: floor_h2.py PORT
"""

from __future__ import annotations

import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import trio

BODY = (b"0123456789abcdef" * 256)[:4096]
HEADERS = [(":status", "200"), ("content-type", "text/plain"), ("content-length", str(len(BODY)))]
CONFIG = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")


async def serve(stream: trio.SocketStream) -> None:
    conn = h2.connection.H2Connection(config=CONFIG)
    conn.initiate_connection()
    try:
        await stream.send_all(conn.data_to_send())
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.StreamEnded):
                    # The request is complete (its body, if any, is ignored): answer it.
                    conn.send_headers(event.stream_id, HEADERS)
                    conn.send_data(event.stream_id, BODY, end_stream=True)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return
            out = conn.data_to_send()
            if out:
                await stream.send_all(out)
    except (h2.exceptions.ProtocolError, trio.BrokenResourceError):
        return
    finally:
        await stream.aclose()


async def main(port: int) -> None:
    await trio.serve_tcp(serve, port, host="127.0.0.1")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
