"""Small WebSocket clients the `websockets` library cannot be: raw frames on a socket, and RFC 8441 over h2."""

from __future__ import annotations

import base64
import os
import socket
import struct

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Pong, TextMessage


def handshake(port: int, path: str, extra: bytes = b"", headers: bytes = b"") -> tuple[socket.socket, bytes]:
    """A raw HTTP/1.1 WebSocket handshake; `extra` goes in the same write. Returns the socket and the answer head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\n"
                 b"connection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: " + key + b"\r\n"
                 + headers + b"\r\n" + extra)
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(65536)
        if not data:
            break
        head += data
    return sock, head


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    """One client frame (RFC 6455 §5.2), masked unless told otherwise."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_close(sock: socket.socket) -> int | None:
    """Read until the server's Close frame; its code (None: the connection ended without one)."""
    conn = Connection(ConnectionType.CLIENT)
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return None
        if not data:
            return None
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, CloseConnection):
                return int(event.code)


class RawWebSocket:
    """A WebSocket over a plain socket: the test writes the frames (`frame`), wsproto reads the server's."""

    def __init__(self, port: int, path: str) -> None:
        self.sock, head = handshake(port, path)
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.conn = Connection(ConnectionType.CLIENT)
        self.conn.receive_data(head.partition(b"\r\n\r\n")[2])

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed before taking it all: what it answered is still there to read

    def receive(self) -> Event | None:
        """The server's next event (a whole message, a Pong, its Close); None once the connection has ended."""
        text: list[str] = []
        binary: list[bytes] = []
        while True:
            for event in self.conn.events():
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        return TextMessage("".join(text))
                elif isinstance(event, BytesMessage):
                    binary.append(bytes(event.data))
                    if event.message_finished:
                        return BytesMessage(b"".join(binary))
                else:
                    return event
            try:
                data = self.sock.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.conn.receive_data(data)

    def until_closed(self) -> list[tuple[str, object]]:
        """What the server sends until it closes: ("text", str), ("binary", bytes), ("pong", bytes), ("close",
        (code, reason))."""
        out: list[tuple[str, object]] = []
        while (event := self.receive()) is not None:
            if isinstance(event, TextMessage):
                out.append(("text", event.data))
            elif isinstance(event, BytesMessage):
                out.append(("binary", bytes(event.data)))
            elif isinstance(event, Pong):
                out.append(("pong", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                out.append(("close", (int(event.code), event.reason)))
                break
            else:
                out.append((type(event).__name__, b""))
        return out

    def close(self) -> None:
        self.sock.close()


class H2WebSocket:
    """A WebSocket over an HTTP/2 stream (RFC 8441), on h2c with prior knowledge: h2 for the stream, wsproto for
    the frames in its DATA."""

    def __init__(self, port: int, path: str, protocols: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.settings: dict[int, int] = {}
        while h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL not in self.settings:
            self._pump()
        self.stream = self.h2.get_next_available_stream_id()
        fields = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", path),
                  (":authority", f"127.0.0.1:{port}"), ("sec-websocket-version", "13")]
        if protocols:
            fields.append(("sec-websocket-protocol", protocols))
        self.h2.send_headers(self.stream, fields)
        self.sock.sendall(self.h2.data_to_send())
        self.status = 0
        self.headers: dict[str, str] = {}
        self.ws = Connection(ConnectionType.CLIENT)
        self.ended = False
        while not self.status:
            self._pump()

    def _pump(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            self.ended = True
            return
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                for code, change in event.changed_settings.items():
                    self.settings[int(code)] = change.new_value
            elif isinstance(event, h2.events.ResponseReceived):
                self.headers = {str(k): str(v) for k, v in event.headers}
                self.status = int(self.headers[":status"])
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.ws.receive_data(event.data)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                self.ended = True
        out = self.h2.data_to_send()
        if out:
            self.sock.sendall(out)

    def send(self, event: Event) -> None:
        data = self.ws.send(event)
        view = memoryview(data)
        while view:
            window = min(self.h2.local_flow_control_window(self.stream), self.h2.max_outbound_frame_size)
            if window <= 0:
                self._pump()
                continue
            self.h2.send_data(self.stream, view[:window].tobytes())
            view = view[window:]
            self.sock.sendall(self.h2.data_to_send())

    def receive(self) -> Event:
        while True:
            for event in self.ws.events():
                return event
            if self.ended:
                raise ConnectionError("the stream ended")
            self._pump()

    def message(self) -> str | bytes:
        """The next whole message."""
        parts: list[str | bytes] = []
        while True:
            event = self.receive()
            if isinstance(event, TextMessage | BytesMessage):
                parts.append(event.data if isinstance(event, TextMessage) else bytes(event.data))
                if event.message_finished:
                    return "".join(p for p in parts if isinstance(p, str)) if isinstance(event, TextMessage) \
                        else b"".join(p for p in parts if isinstance(p, bytes))
            elif isinstance(event, CloseConnection):
                raise ConnectionError(f"closed with {event.code}")

    def close(self) -> None:
        self.sock.close()
