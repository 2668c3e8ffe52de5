"""Headless Chromium driven over the DevTools protocol (CDP) with the `websockets` library: tabs, and JavaScript
evaluated in them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Browser:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self.ws.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def tab(self, url: str) -> str:
        """A new tab at `url`; its session id."""
        target = await self.send("Target.createTarget", {"url": url})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        session: str = attached["sessionId"]
        return session

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result.get("result", {}).get("value")

    async def wait_for(self, session: str, expression: str, timeout: float = 30) -> Any:
        """Evaluate `expression` until it is truthy (the page's own progress; no fixed sleep stands in for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = await self.evaluate(session, expression)
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"{expression} stayed false")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    binary = shutil.which("chromium")
    assert binary is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        endpoint = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while endpoint is None and loop.time() < deadline:
            line = await loop.run_in_executor(None, proc.stderr.readline)
            if not line:
                break
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                endpoint = found.group(1)
        assert endpoint is not None, "Chromium did not open its DevTools endpoint"
        async with connect(endpoint, max_size=None) as ws:
            browser = Browser(ws)
            try:
                yield browser
            finally:
                browser._reader.cancel()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)
