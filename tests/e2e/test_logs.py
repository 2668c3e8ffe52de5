"""Access log formats and file (reopened on SIGUSR1), one timestamp format, and the slow-request log."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests._server import run_dynlan

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_combined_format_to_a_file_reopened_on_sigusr1(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_text("a\n")
    access = tmp_path / "access.log"
    config = f'[server]\ngrace_period = 0.5\n[log]\naccess_format = "combined"\naccess_file = "{access}"\n'
    with run_dynlan(site, "--workers", "2", config=config) as server:
        agent = 'probe "quoted" agent'
        r = httpx.get(server.url + "/a.txt?x=1&y=2", headers={"user-agent": agent, "referer": "http://r.test/p"})
        assert r.status_code == 200
        wait_for(lambda: access.exists() and "/a.txt?x=1" in access.read_text(), "no access line")
        line = next(entry for entry in access.read_text().splitlines() if "/a.txt?x=1" in entry)
        match = re.fullmatch(rf'127\.0\.0\.1 - - \[({STAMP})\] "GET /a\.txt\?x=1&y=2 HTTP/1\.1" 200 2 '
                             r'"http://r\.test/p" "probe \\"quoted\\" agent"', line)
        assert match is not None, line
        # logrotate: the file is moved away, the supervisor gets SIGUSR1, every worker opens the name again.
        rotated = tmp_path / "access.log.1"
        access.rename(rotated)
        server.proc.send_signal(signal.SIGUSR1)
        # Each worker reopens the file (one still starting does once it serves).
        wait_for(lambda: sum(int(n) for n in re.findall(r"SIGUSR1: (\d+) workers? reopened", server.log())) == 2,
                 "the access log was not reopened")
        # Both workers write to the new file: connections spread over them, and every line lands there.
        for i in range(20):
            httpx.get(server.url + f"/a.txt?after={i}")
        wait_for(lambda: access.exists() and access.read_text().count("after=") == 20, "lines missing")
        assert "after=" not in rotated.read_text()
        assert "/a.txt" not in server.log()


def test_json_lines_and_the_slow_page_log(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.lua").write_text("log.info('page log line')\nprint('hi')\n")
    (site / "slow.lua").write_text("sleep(0.8)\nprint('slow')\n")
    (site / "pyslow.py").write_text("import trio\n\n\nasync def handle(request, response):\n"
                                    "    await trio.sleep(0.8)\n    response.write('py slow')\n")
    config = '[server]\ngrace_period = 0.5\n[log]\naccess_format = "json"\nslow_fraction = 0.1\n[limits]\nwall_time = 2.0\n'
    with run_dynlan(site, config=config) as server:
        assert httpx.get(server.url + "/hello?q=%22x%22", headers={"user-agent": "json-probe"}).text == "hi\n"
        assert httpx.get(server.url + "/slow", timeout=30).text == "slow\n"
        assert httpx.get(server.url + "/pyslow", timeout=30).text == "py slow"
        wait_for(lambda: server.log().count('"request_id"') >= 3, "no json lines")
        entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        hello = next(e for e in entries if e["target"].startswith("/hello"))
        assert hello["target"] == "/hello?q=%22x%22" and hello["status"] == 200 and hello["bytes"] == 3
        assert hello["user_agent"] == "json-probe" and hello["referer"] is None
        assert hello["site"] == "site" and hello["route"] == "/hello" and hello["runtime"] == "lua"
        assert hello["protocol"] == "HTTP/1.1" and hello["duration_ms"] >= 0 and len(hello["request_id"]) >= 8
        assert re.fullmatch(STAMP, hello["time"])
        log = server.log()
        # Each slow page once, with where it waits: the Lua page in its host call, the Python page on its own line.
        slow = [line for line in log.splitlines() if "slow page:" in line]
        assert len(slow) == 2, log[-4000:]
        assert re.search(rf"^{STAMP} WARNING dynlan: \[\w+\] slow page: site site page slow\.lua has run "
                         r"[\d.]+ s, \d+% of its wall-time budget of 2 s; where it is:", log, re.M)
        lua_stack = log.split("page slow.lua", 1)[1].split("{", 1)[0]
        assert "in run_page" in lua_stack and "_asleep" in lua_stack and "trio/_timeouts" not in lua_stack
        py_stack = log.split("page pyslow.py", 1)[1].split("{", 1)[0]
        assert f'File "{os.path.realpath(site / "pyslow.py")}", line 5, in handle' in py_stack or \
            f'File "{site / "pyslow.py"}", line 5, in handle' in py_stack, py_stack
        assert "await trio.sleep(0.8)" in py_stack
        # The application log has the access log's timestamps.
        assert re.search(rf"^{STAMP} INFO dynlan\S*: .*page log line", log, re.M), log[-3000:]
        # A quick page is not logged.
        assert "page hello.lua" not in log
