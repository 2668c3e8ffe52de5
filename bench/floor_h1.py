"""The floor of dynlan's HTTP/1.1 stack: trio + httptools answering 4 KiB from memory, nothing else.

`make bench` runs it beside dynlan: whatever dynlan costs above it per request is the host's own work
(routing, static files, headers, logging). Usage: floor_h1.py PORT
"""

from __future__ import annotations

import email.utils
import sys
import time

import httptools
import trio

BODY = (b"0123456789abcdef" * 256)[:4096]
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n" % len(BODY)


class _Response:
    """The whole answer, its `Date` (RFC 9110 §6.6.1) formatted once a second."""

    second = -1
    data = b""

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            date = email.utils.formatdate(now, usegmt=True).encode()
            cls.second, cls.data = now, HEAD + b"date: " + date + b"\r\n\r\n" + BODY
        return cls.data


class _Requests:
    """httptools callbacks: count the requests a read completed and whether the client wants to close."""

    def __init__(self) -> None:
        self.complete = 0

    def on_message_complete(self) -> None:
        self.complete += 1


async def serve(stream: trio.SocketStream) -> None:
    requests = _Requests()
    parser = httptools.HttpRequestParser(requests)
    try:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                return
            parser.feed_data(data)
            if requests.complete:
                await stream.send_all(_Response.get() * requests.complete)
                requests.complete = 0
                if not parser.should_keep_alive():
                    return
    except (httptools.HttpParserError, trio.BrokenResourceError):
        return
    finally:
        await stream.aclose()


async def main(port: int) -> None:
    await trio.serve_tcp(serve, port, host="127.0.0.1")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
