"""Access log formats and file (reopened on SIGUSR1), one timestamp format, and the slow-request log."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dynlan.http import HttpRequest
from dynlan.http._headers import Headers
from dynlan.observability import LABELS
from dynlan.server._access import AccessLog
from tests._server import run_dynlan

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize(("fmt", "pattern"), [
    ("dynlan", rf'{STAMP} 10\.0\.0\.7 "GET /a\.txt\?x=1&y=\\"2\\" HTTP/1\.1" 200 4096 [\d.]+ms abc123'),
    ("common", rf'10\.0\.0\.7 - - \[{STAMP}\] "GET /a\.txt\?x=1&y=\\"2\\" HTTP/1\.1" 200 4096'),
    ("combined", rf'10\.0\.0\.7 - - \[{STAMP}\] "GET /a\.txt\?x=1&y=\\"2\\" HTTP/1\.1" 200 4096 '
                 r'"http://r\.test/p" "probe \\"quoted\\" agent\\x0a"'),
])
def test_line_formats(fmt: str, pattern: str) -> None:
    out = io.StringIO()
    log = AccessLog(out, fmt=fmt)
    request = HttpRequest("GET", '/a.txt?x=1&y="2"', "/a.txt", 'x=1&y="2"',
                          Headers([("referer", "http://r.test/p"), ("user-agent", 'probe "quoted" agent\n')]),
                          "1.1", "http", "a.test", ("10.0.0.7", 5555), "abc123")
    log.log(request, 200, 4096, time.perf_counter())
    log.flush()
    # A client's quotes and newlines are escaped: it cannot forge a field or a line.
    assert re.fullmatch(pattern, out.getvalue().rstrip("\n")), out.getvalue()
    assert out.getvalue().count("\n") == 1


def test_json_format() -> None:
    out = io.StringIO()
    log = AccessLog(out, fmt="json")
    request = HttpRequest("POST", "/api/x?q=1", "/api/x", "q=1", Headers([("user-agent", "ua")]), "2", "https",
                          "a.test", ("10.0.0.7", 5555), "abc123")
    LABELS.set(("a.test", "/api/[id]", "python"))
    log.log(request, 503, 10, time.perf_counter())
    log.flush()
    entry = json.loads(out.getvalue())
    assert entry == {**entry, "client": "10.0.0.7", "method": "POST", "target": "/api/x?q=1", "protocol": "HTTP/2",
                     "host": "a.test", "status": 503, "bytes": 10, "request_id": "abc123", "referer": None,
                     "user_agent": "ua", "site": "a.test", "route": "/api/[id]", "runtime": "python"}
    assert re.fullmatch(STAMP, entry["time"]) and entry["duration_ms"] >= 0


def test_access_file_reopened_on_sigusr1_and_the_slow_page_log(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.lua").write_text("log.info('page log line')\nprint('hi')\n")
    (site / "slow.lua").write_text("sleep(0.8)\nprint('slow')\n")
    (site / "pyslow.py").write_text("import trio\n\n\nasync def handle(request, response):\n"
                                    "    await trio.sleep(0.8)\n    response.write('py slow')\n")
    access = tmp_path / "access.log"
    config = (f'[server]\ngrace_period = 0.5\n[log]\naccess_format = "json"\naccess_file = "{access}"\n'
              "slow_fraction = 0.1\n[limits]\nwall_time = 2.0\n")
    with run_dynlan(site, "--workers", "2", config=config) as server:
        assert httpx.get(server.url + "/hello?q=%22x%22", headers={"user-agent": "json-probe"}).text == "hi\n"
        assert httpx.get(server.url + "/slow", timeout=30).text == "slow\n"
        assert httpx.get(server.url + "/pyslow", timeout=30).text == "py slow"
        wait_for(lambda: access.exists() and access.read_text().count("\n") >= 3, "no access lines")
        entries = [json.loads(line) for line in access.read_text().splitlines()]
        hello = next(e for e in entries if e["target"].startswith("/hello"))
        assert hello["target"] == "/hello?q=%22x%22" and hello["status"] == 200 and hello["bytes"] == 3
        assert hello["user_agent"] == "json-probe" and hello["site"] == "site" and hello["route"] == "/hello"
        # logrotate: the file is moved away, the supervisor gets SIGUSR1, every worker opens the name again
        # (one still starting does once it serves).
        rotated = tmp_path / "access.log.1"
        access.rename(rotated)
        server.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: sum(int(n) for n in re.findall(r"SIGUSR1: (\d+) workers? reopened", server.log())) == 2,
                 "the access log was not reopened")
        # Connections spread over both workers, and every line lands in the new file.
        for i in range(20):
            httpx.get(server.url + f"/hello?after={i}")
        wait_for(lambda: access.exists() and access.read_text().count("after=") == 20, "lines missing")
        assert "after=" not in rotated.read_text()
        log = server.log()
    # The application log (stderr) has the access log's timestamps.
    assert re.search(rf"^{STAMP} INFO dynlan\S*: .*page log line", log, re.M), log[-3000:]
    # Each slow page once, with where it waits: the Lua page in its host call, the Python page on its own line.
    slow = [line for line in log.splitlines() if "slow page:" in line]
    assert len(slow) == 2, log[-4000:]
    assert re.search(rf"^{STAMP} WARNING dynlan: \[\w+\] slow page: site site page slow\.lua has run "
                     r"[\d.]+ s, \d+% of its wall-time budget of 2 s; where it is:", log, re.M)
    lua_stack = log.split("page slow.lua", 1)[1].split(" WARNING ", 1)[0]
    assert "in run_page" in lua_stack and "_asleep" in lua_stack and "trio/_timeouts" not in lua_stack
    py_stack = log.split("page pyslow.py", 1)[1].split(" INFO ", 1)[0]
    assert f'File "{os.path.realpath(site / "pyslow.py")}", line 5, in handle' in py_stack or \
        f'File "{site / "pyslow.py"}", line 5, in handle' in py_stack, py_stack
    assert "await trio.sleep(0.8)" in py_stack
    # A quick page is not logged.
    assert "page hello.lua" not in log
