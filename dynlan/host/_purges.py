"""Response-cache purges reach every instance: published on a Redis channel every worker of every instance hears.

A page's purge is made at once in its own worker, told to the instance's other workers over the control socket
(`dynlan.server._control`), and published here for the other instances; so is a purge asked for on the command
line (`dynlan cache purge`), by each worker it reaches. Each message carries the publishing
process's origin, so it is not made twice where it began. Pub/sub keeps nothing: an instance cut off from Redis
while a purge is published misses it, and its entries go when they expire (docs/deploy.md).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import trio

from dynlan.host._redis import RedisLink, RedisUnavailable
from dynlan.host._respcache import ResponseCache

log = logging.getLogger("dynlan")

CHANNEL = "purge"


class PurgeChannel:
    def __init__(self, link: RedisLink, responses: ResponseCache | None) -> None:
        self.link = link
        self.responses = responses
        self.origin = secrets.token_hex(8)
        self._nursery: trio.Nursery | None = None
        self.received = 0
        self.published = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen for the other instances' purges (and own the tasks publishing this one's) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.link.listen, CHANNEL, self._deliver)
            task_status.started()

    def publish_nowait(self, message: dict[str, str]) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._publish, message)

    async def _publish(self, message: dict[str, str]) -> None:
        shared = self.responses.shared if self.responses is not None else None
        if shared is not None:
            # Out of Redis first: an instance told of the purge must not find the entry there again.
            await shared.purge(message.get("site"), path=message.get("path"), tag=message.get("tag"))
        try:
            await self.link.publish(CHANNEL, json.dumps({**message, "origin": self.origin}))
            self.published += 1
        except RedisUnavailable as exc:
            log.warning("a purge could not reach the other instances: %s", exc)

    def _deliver(self, text: str) -> None:
        try:
            message: Any = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("origin") == self.origin:
            return
        self.received += 1
        site, path, tag = message.get("site"), message.get("path"), message.get("tag")
        if self.responses is None or not isinstance(site, str | None):
            return
        if isinstance(path, str):
            self.responses.purge(site, path=path)
        elif isinstance(tag, str):
            self.responses.purge(site, tag=tag)
        elif message.get("all") == "1":
            self.responses.purge(site)
