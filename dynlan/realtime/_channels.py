"""Channels: messages a page publishes reach the subscribers of that channel, of the same site only.

- In a worker process, a publish is delivered to the subscriptions at once.
- Across the worker processes of a server, each process binds a Unix datagram
  socket in a folder private to its user and named after the supervisor
  (`.../dynlan-realtime-<ppid>/<pid>.sock`); a publish is one datagram to each
  sibling (ordered per sender, message boundaries kept, no connection set-up).
- Across machines, when the Redis cache backend is configured, a publish goes
  to Redis pub/sub instead, and every process (here and elsewhere) listens on
  one pattern subscription: Redis reaches the siblings too.

A channel's key is the site's name and the channel's name: a page names only
channels of its own site (`docs/websocket.md`).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("dynlan")

MAX_MESSAGE = 60 * 1024
"""Bytes of one channel message (one datagram to each sibling process)."""
MAX_NAME = 200
MAX_PENDING = 1000
"""Channel messages on their way to Redis at once, past which more are dropped."""
_TEXT, _BINARY = b"t", b"b"


def relay_folder() -> Path:
    """Where the worker processes of this server (children of one supervisor) meet."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "dynlan" if runtime else Path(tempfile.gettempdir()) / f"dynlan-{os.getuid()}"
    return base / f"realtime-{os.getppid()}"


class Subscription:
    """Messages of one channel for one request, until it unsubscribes or ends."""

    __slots__ = ("hub", "key", "name", "backlog", "messages", "dropped", "_waker", "_arrived")

    def __init__(self, hub: ChannelHub, key: str, name: str, backlog: int) -> None:
        self.hub = hub
        self.key = key
        self.name = name
        self.backlog = backlog
        self.messages: collections.deque[str | bytes] = collections.deque()
        self.dropped = 0
        self._waker: Callable[[], None] | None = None
        self._arrived: trio.Event | None = None

    def deliver(self, message: str | bytes) -> None:
        if len(self.messages) >= self.backlog:
            # A page that does not keep up loses the oldest messages, never the worker's memory.
            self.messages.popleft()
            self.dropped += 1
        self.messages.append(message)
        if self._arrived is not None:
            self._arrived.set()
        if self._waker is not None:
            self._waker()

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        """Called when a message arrives (a page waiting on its WebSocket and this channel at once)."""
        self._waker = waker

    def take_nowait(self) -> str | bytes | None:
        return self.messages.popleft() if self.messages else None

    async def wait(self) -> None:
        """Until a message is there."""
        while not self.messages:
            self._arrived = trio.Event()
            try:
                await self._arrived.wait()
            finally:
                self._arrived = None

    def close(self) -> None:
        self.hub._unsubscribe(self)


class ChannelHub:
    """The channels of one worker process, and its relay to the others."""

    def __init__(self, nursery: trio.Nursery | None, redis_url: str | None = None, redis_prefix: str = "dynlan:") -> None:
        self._nursery = nursery
        self._subscribers: dict[str, set[Subscription]] = {}
        self._redis_url = redis_url
        self._redis_channel = f"{redis_prefix}channel:"
        self._origin = os.urandom(8).hex().encode()
        self._sock: socket.socket | None = None
        self._folder = relay_folder()
        self._started = False
        self._redis: Any = None
        self._to_redis: trio.MemorySendChannel[bytes] | None = None
        self.stats = {"published": 0, "delivered": 0, "relayed": 0, "relay_errors": 0}

    # -- the page side ---------------------------------------------------------------

    def subscribe(self, site: str, name: str, backlog: int) -> Subscription:
        self._start()
        key = _key(site, name)
        sub = Subscription(self, key, name, backlog)
        self._subscribers.setdefault(key, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.key]
        sub._waker = None

    def publish(self, site: str, name: str, message: str | bytes) -> None:
        """Deliver to this process's subscribers now, and to the other processes (and machines) in the background."""
        data = message.encode() if isinstance(message, str) else message
        if len(data) > MAX_MESSAGE:
            raise ValueError(f"a channel message is at most {MAX_MESSAGE} bytes, not {len(data)}")
        self._start()
        key = _key(site, name)
        self.stats["published"] += 1
        self._deliver(key, message)
        payload = self._origin + b"\0" + key.encode() + b"\0" + (_TEXT if isinstance(message, str) else _BINARY) + data
        if self._to_redis is not None:
            try:
                self._to_redis.send_nowait(payload)
            except trio.WouldBlock:
                # Redis is slower than the pages publishing: drop rather than queue without bound.
                self.stats["relay_errors"] += 1
        else:
            self._relay(payload)

    def _deliver(self, key: str, message: str | bytes) -> None:
        for sub in list(self._subscribers.get(key, ())):
            sub.deliver(message)
            self.stats["delivered"] += 1

    def _receive_payload(self, payload: bytes) -> None:
        origin, _, rest = payload.partition(b"\0")
        if origin == self._origin:
            return  # our own, back from Redis: delivered already
        key, _, rest = rest.partition(b"\0")
        kind, data = rest[:1], rest[1:]
        message: str | bytes = data.decode("utf-8", "replace") if kind == _TEXT else data
        self._deliver(key.decode("utf-8", "replace"), message)

    # -- across processes ------------------------------------------------------------

    async def start_redis(self) -> None:
        """With Redis configured, subscribe before the worker serves: a message another instance publishes
        right after a page here subscribed is not lost to a subscription still on its way."""
        if self._started or self._nursery is None or not self._redis_url:
            return
        self._started = True
        queue = self._open_redis()
        self._nursery.start_soon(self._redis_send, queue)
        await self._nursery.start(self._redis_listen)

    def _open_redis(self) -> trio.MemoryReceiveChannel[bytes]:
        import redis

        assert self._redis_url is not None
        self._redis = redis.Redis.from_url(self._redis_url, socket_connect_timeout=2, health_check_interval=10)
        self._to_redis, queue = trio.open_memory_channel[bytes](MAX_PENDING)
        return queue

    def _start(self) -> None:
        if self._started or self._nursery is None:
            return
        self._started = True
        if self._redis_url:
            self._nursery.start_soon(self._redis_send, self._open_redis())
            self._nursery.start_soon(self._redis_listen)
            return
        try:
            self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # A predictable name: refuse a folder another user could have planted.
            if self._folder.stat().st_uid != os.getuid():
                raise OSError(f"{self._folder} belongs to another user")
            os.chmod(self._folder, 0o700)
            path = self._folder / f"{os.getpid()}.sock"
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(str(path))
            self._sock = sock
        except OSError as exc:
            log.warning("channels reach only this worker process: %s", exc)
            return
        self._nursery.start_soon(self._relay_listen, sock, path)

    def _relay(self, payload: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        own = f"{os.getpid()}.sock"
        try:
            names = os.listdir(self._folder)
        except OSError:
            return
        for name in names:
            if name == own or not name.endswith(".sock"):
                continue
            target = str(self._folder / name)
            try:
                sock.sendto(payload, target)
                self.stats["relayed"] += 1
            except OSError as exc:
                self.stats["relay_errors"] += 1
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    # Left by a process that is gone.
                    with contextlib.suppress(OSError):
                        os.unlink(target)

    async def _relay_listen(self, sock: socket.socket, path: Path) -> None:
        tsock = trio.socket.from_stdlib_socket(sock)
        try:
            while True:
                payload = await tsock.recv(MAX_MESSAGE + 2 * MAX_NAME + 1024)
                self._receive_payload(payload)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            tsock.close()

    async def _redis_send(self, queue: trio.MemoryReceiveChannel[bytes]) -> None:
        """One task sends to Redis, in the order pages published; what queued meanwhile goes in one pipeline."""
        channel = self._redis_channel + "all"
        async for payload in queue:
            batch = [payload]
            while True:
                try:
                    batch.append(queue.receive_nowait())
                except trio.WouldBlock:
                    break

            def send(batch: list[bytes] = batch) -> None:
                pipe = self._redis.pipeline(transaction=False)
                for item in batch:
                    pipe.publish(channel, item)
                pipe.execute()

            try:
                await trio.to_thread.run_sync(send)
                self.stats["relayed"] += len(batch)
            except Exception as exc:
                self.stats["relay_errors"] += len(batch)
                log.warning("channel messages not sent to Redis: %s", exc)

    async def _redis_listen(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                try:
                    await trio.to_thread.run_sync(pubsub.subscribe, self._redis_channel + "all")
                finally:
                    # Subscribed, or Redis is not there yet: either way the worker serves (and this retries).
                    task_status.started()
                    task_status = trio.TASK_STATUS_IGNORED
                try:
                    while True:
                        message = await trio.to_thread.run_sync(pubsub.get_message, True, 1.0, abandon_on_cancel=True)
                        if message is not None and message.get("type") == "message":
                            self._receive_payload(bytes(message["data"]))
                finally:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(pubsub.close)
            except trio.Cancelled:
                raise
            except Exception as exc:
                log.warning("channel subscription to Redis failed (retrying): %s", exc)
                await trio.sleep(1)

    def statistics(self) -> dict[str, int]:
        out = dict(self.stats)
        out["subscriptions"] = sum(len(s) for s in self._subscribers.values())
        return out


def _key(site: str, name: str) -> str:
    if not name or len(name) > MAX_NAME or "\0" in name:
        raise ValueError(f"a channel name is 1 to {MAX_NAME} characters")
    if "\0" in site:
        raise ValueError("bad site name")
    # The site's name is the host's, never the page's: a page names channels of its own site only.
    return f"{site}\x1f{name}"


def hub_for(host: Any) -> ChannelHub:
    """The worker's hub, made the first time a page uses a channel."""
    hub = host.extra.get("channels")
    if hub is None:
        from dynlan.host._redis import RedisCache

        cache = host.cache
        redis = cache if isinstance(cache, RedisCache) else None
        hub = ChannelHub(host.nursery, redis.url if redis else None, redis.prefix if redis else "dynlan:")
        host.extra["channels"] = hub
    assert isinstance(hub, ChannelHub)
    return hub
