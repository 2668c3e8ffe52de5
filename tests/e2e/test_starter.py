"""`dynlan new`, and the site it writes served with `--dev`: every page answers, the start-up banner says what is
served, and live reload works in Chromium (driven over the DevTools protocol): a file edited while its page is
open in a tab shows in that tab without a manual reload.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

LANGUAGES = ("lua", "python", "wren", "php")


def dynlan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dynlan", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("starter") / "mysite"
    out = dynlan("new", str(path))
    assert out.returncode == 0, out.stderr
    assert "wrote a starter site" in out.stdout and f"dynlan serve {path} --dev" in out.stdout
    assert "no page for" not in out.stdout, out.stdout  # every runtime is installed here (make test)
    return path


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, "--dev") as s:
        yield s


def test_new_writes_the_starter_site(site: Path) -> None:
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == sorted([
        "dynlan.toml", "index.html", "assets/style.css", "errors/404.html", "errors/500.html",
        "_lib/starter.lua", "_lib/starter.py", "_lib/starter.wren", "_lib/starter.php",
        "lua/[name].lua", "python/[name].py", "wren/[name].wren", "php/[name].php",
    ])
    toml = (site / "dynlan.toml").read_text()
    assert toml.count("\n#") > 10  # commented, to be read
    index = (site / "index.html").read_text()
    for language in LANGUAGES:
        assert f'href="/{language}/world?greeting=Hello"' in index


def test_new_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    out = dynlan("new", str(tmp_path))
    assert out.returncode == 2 and "not empty" in out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    out = dynlan("new", str(tmp_path / "notes.txt"))
    assert out.returncode == 2 and "not a folder" in out.stderr


def test_every_page_answers(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/").status_code == 200
        assert c.get("/assets/style.css").status_code == 200
        for language in LANGUAGES:
            first = c.get(f"/{language}/world", params={"greeting": "Howdy"})
            assert first.status_code == 200, first.text[-3000:]
            assert "Howdy, world!" in first.text and "visited 1 times" in first.text
            posted = c.post(f"/{language}/ann", data={"message": "<hi>"})
            assert posted.status_code == 200, posted.text[-3000:]
            assert "Hello, ann!" in posted.text and "You said: <b>&lt;hi&gt;</b>" in posted.text
            assert "visited 2 times" in posted.text
        missing = c.get("/nothing-here")
        assert missing.status_code == 404 and "errors/404.html" in missing.text
        assert c.get("/_lib/starter.lua").status_code == 404


def test_banner_says_what_is_served(server: RunningServer, site: Path) -> None:
    log = server.wait_log("dev mode")  # the banner's last part
    assert f"dynlan serving mysite (default mysite) on http://127.0.0.1:{server.port}/" in log
    assert re.search(rf"site +mysite +every host +\({re.escape(str(site))}\)", log), log
    assert re.search(rf"HTTP/1\.1 +http://127\.0\.0\.1:{server.port}/", log)
    assert re.search(rf"HTTP/2 +http://127\.0\.0\.1:{server.port}/ +\(h2c", log)
    assert "HTTP/3" not in log  # not without TLS
    assert re.search(r"dev mode +on:", log)
    for runtime in ("lua lupa ", "python CPython 3.", "wren wren ", "php php-cgi"):
        assert re.search(rf"runtime +{runtime}", log), log


# -- live reload in Chromium ------------------------------------------------------------------------------------


class Tab:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self._id:
                assert "error" not in message, message
                result: dict[str, Any] = message.get("result", {})
                return result

    def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method") == method:
                params: dict[str, Any] = message["params"]
                return params

    def text(self) -> str:
        value = self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
        return str(value["result"]["value"])

    def wait_text(self, expected: str, timeout: float = 30) -> None:
        """Until the page shows `expected`: checked now, then after each page load."""
        deadline = time.monotonic() + timeout
        while expected not in self.text():
            self.wait_event("Page.loadEventFired", deadline - time.monotonic())

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")


@contextlib.contextmanager
def chromium() -> Iterator[Tab]:
    browser = shutil.which("chromium")
    assert browser is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        found: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                m = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
                if m and not found:
                    found.append(m.group(1))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not found:
            assert proc.poll() is None and time.monotonic() < deadline, "chromium did not start its DevTools server"
            time.sleep(0.05)
        pages = [t for t in httpx.get(f"http://{found[0]}/json/list", timeout=30).json() if t["type"] == "page"]
        assert pages, "chromium opened no page"
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30) as ws:
            tab = Tab(ws)
            tab.call("Page.enable")
            yield tab
    finally:
        proc.terminate()
        if proc.stderr is not None:
            proc.stderr.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


def test_live_reload_in_chromium(server: RunningServer, site: Path, tmp_path: Path) -> None:
    with chromium() as tab:
        tab.open(server.url + "/")
        assert "Your new DynLan site" in tab.text()
        # A static file: the page itself. (An edit made before the page's stream is open is not missed: the page
        # carries the stamp of the files it was made from.)
        index = site / "index.html"
        index.write_text(index.read_text().replace("Your new DynLan site", "Edited while it was open"))
        tab.wait_text("Edited while it was open")
        shot = tab.call("Page.captureScreenshot", format="png")
        (tmp_path / "starter-index.png").write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {tmp_path / 'starter-index.png'}")
        # A module a page uses: the Lua page's helper in _lib/.
        tab.open(server.url + "/lua/world")
        assert "Hello, world!" in tab.text()
        module = site / "_lib" / "starter.lua"
        module.write_text(module.read_text().replace('<p><a href="/">Home</a></p>', "<p>From the edited module</p>"))
        tab.wait_text("From the edited module")
        # A stylesheet the page links: the page reloads, and with it the style.
        style = site / "assets" / "style.css"
        style.write_text(style.read_text() + "\nbody { background: rgb(1, 2, 3); }\n")
        background = "getComputedStyle(document.body).backgroundColor"
        deadline = time.monotonic() + 30
        while tab.call("Runtime.evaluate", expression=background, returnByValue=True)["result"]["value"] != \
                "rgb(1, 2, 3)":
            tab.wait_event("Page.loadEventFired", deadline - time.monotonic())
    server.wait_log("GET /_dynlan/live-reload?since=")  # the access log is written in batches


def test_no_reload_script_without_dev(site: Path) -> None:
    with run_dynlan(site) as plain, httpx.Client(base_url=plain.url) as c:
        page = c.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200 and "live-reload" not in page.text and "<script" not in page.text
        assert c.get("/lua/world").status_code == 200 and "<script" not in c.get("/lua/world").text
        assert c.get("/_dynlan/live-reload").status_code == 404


def test_reload_script_only_in_html(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        page = c.get("/", headers={"accept": "text/html", "accept-encoding": "gzip, br"})
        assert page.headers.get("content-encoding") is None  # a page load is answered uncompressed in --dev
        assert page.text.rstrip().endswith("</script>") and int(page.headers["content-length"]) == len(page.content)
        css = c.get("/assets/style.css")
        assert "<script" not in css.text and css.headers["cache-control"] == "no-cache"
        assert "<script" not in c.get("/").text  # asked for */* (a script, curl): the page as it is
        head = c.head("/", headers={"accept": "text/html", "accept-encoding": "gzip, br"})
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(page.content)
