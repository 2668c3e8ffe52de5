"""Hostile Python pages: what one request does never reaches a later request, in either mode.

Two virtual hosts on one server: `a.test` serves the attacker's pages and `b.test` a victim page. A victim
client sends a secret session cookie. In the process sandbox each site has its own workers, so the
attacker's victims are also the other users of its own site: the victim client asks for `a.test/victim`
too, served by the very worker the attacker ran in (`workers = 1`). Each attack is made, then the victim
asks, then the attacker asks again for what it captured; the secret must never reach it, and the victim's
page must answer correctly in under a second.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

SANDBOX_CONFIG = """
[limits]
wall_time = 10.0

[python]
sandbox = "process"
workers = 1
max_processes = 32
cpu_seconds = 5
"""

VICTIM = '''
def handle(request, response):
    secret = request.cookies.get("session", "")
    response.json({"hello": "victim", "characters": len(secret)})
'''

ATTACKER = {
    # Replace builtins, in the interpreter and in the dict pages get as __builtins__, to record their arguments.
    "patch_builtins.py": '''
import builtins

def handle(request, response):
    if request.query.get("report"):
        found = list(getattr(builtins, "dynlan_stolen", [])) + list(__builtins__.get("dynlan_stolen", []))
        response.write(repr(found))
        return
    stolen = []
    real_len, real_str = builtins.len, builtins.str
    def spy_len(value):
        stolen.append(real_str(value))
        return real_len(value)
    builtins.dynlan_stolen = stolen
    builtins.len = spy_len
    __builtins__["dynlan_stolen"] = stolen
    __builtins__["len"] = spy_len
    response.write("patched")
''',
    # Patch a module every page and the worker use, the worker's own code through sys.modules["__main__"],
    # and the API's classes found through gc.get_objects().
    "patch_modules.py": '''
import gc, json, sys

def handle(request, response):
    if request.query.get("report"):
        response.write(repr(getattr(json, "dynlan_stolen", [])))
        return
    stolen = json.dynlan_stolen = []
    real_loads, real_dumps = json.loads, json.dumps
    def spy_loads(*args, **kwargs):
        stolen.append(repr(args)[:4000])
        return real_loads(*args, **kwargs)
    def spy_dumps(*args, **kwargs):
        stolen.append(repr(args)[:4000])
        return real_dumps(*args, **kwargs)
    json.loads = sys.modules["json"].loads = spy_loads
    json.dumps = sys.modules["json"].dumps = spy_dumps
    main = sys.modules["__main__"]
    for name in list(vars(main)):
        value = getattr(main, name)
        if callable(value) and getattr(value, "__module__", "") == main.__name__ and not isinstance(value, type):
            def wrapper(*args, _real=value, **kwargs):
                stolen.append(repr(args)[:4000])
                return _real(*args, **kwargs)
            setattr(main, name, wrapper)
    for obj in gc.get_objects():
        if isinstance(obj, type) and obj.__name__ == "Request" and isinstance(vars(obj).get("cookies"), property):
            real = vars(obj)["cookies"].fget
            def cookies(self, _real=real):
                value = _real(self)
                stolen.append(repr(value))
                return value
            obj.cookies = property(cookies)
    response.write("patched")
''',
    # A thread that outlives the response and looks through every object for a request's fields.
    "recorder.py": '''
import gc, os, sys, threading, time

def handle(request, response):
    if request.query.get("report"):
        alive = [t.name for t in threading.enumerate() if t.name == "dynlan-recorder"]
        response.json({"alive": alive, "recorded": getattr(sys, "dynlan_recorded", [])})
        return
    recorded = sys.dynlan_recorded = []
    def record():
        while True:
            for obj in gc.get_objects():
                if isinstance(obj, dict) and "cookies" in obj:
                    recorded.append(repr(obj.get("cookies")))
            time.sleep(0.005)
    threading.Thread(target=record, name="dynlan-recorder", daemon=True).start()
    response.write(str(os.getpid()))
''',
    # A grandchild in a session of its own, orphaned at once, reading whatever descriptors it inherited.
    "setsid_child.py": '''
import os, sys, time

STEALER = """
import os, select, sys, time
out = sys.argv[2]
open(out + ".ready", "w").close()
while True:
    for fd in (0, 3):
        try:
            if select.select([fd], [], [], 0.01)[0]:
                data = os.read(fd, 65536)
                if data:
                    with open(out, "ab") as f:
                        f.write(data)
        except OSError:
            pass
    time.sleep(0.01)
"""

def handle(request, response):
    # Inside the site's own folder: the only place besides its private temporary folder a page may write.
    marker = request.query["marker"]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), request.query["out"])
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", STEALER, marker, out])
        os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 20
    while not os.path.exists(out + ".ready") and time.monotonic() < deadline:
        time.sleep(0.01)
    response.write(("running " if os.path.exists(out + ".ready") else "not started ") + out)
''',
    # As many processes as it can get, up to 200, each sleeping with the marker as its name.
    "fork_many.py": '''
import os

def handle(request, response):
    marker = request.query["marker"]
    started, refused = 0, "nothing"
    for _ in range(200):
        try:
            pid = os.fork()
        except OSError as exc:
            refused = type(exc).__name__
            break
        if pid == 0:
            try:
                os.execvp("sleep", [marker, "300"])
            finally:
                os._exit(0)
        started += 1
    response.write(f"{started} {refused}")
''',
    # What an earlier request left in memory the page inherited: a victim's cookie, found by scanning it.
    "scan_memory.py": '''
import re

PATTERN = re.compile(rb"session=([0-9a-f]{32})")

def handle(request, response):
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            offset = start
            while offset < end:
                try:
                    mem.seek(offset)
                    chunk = mem.read(min(1 << 20, end - offset) + 64)
                except (OSError, ValueError, OverflowError):
                    break
                found.update(m.decode() for m in PATTERN.findall(chunk))
                offset += 1 << 20
    response.write(" ".join(sorted(found)) or "nothing")
''',
}

IN_PROCESS_PAGES = {
    "a.test/patch_builtins.py": '''
def handle(request, response):
    __builtins__["dynlan_mark"] = "set by a.test"
    __builtins__["len"] = lambda value: -1
    response.write("patched")
''',
    "a.test/check_builtins.py": '''
def handle(request, response):
    try:
        mark = dynlan_mark
    except NameError:
        mark = "clean"
    response.write(f"{mark} {len('abc')}")
''',
}
IN_PROCESS_PAGES["b.test/check_builtins.py"] = IN_PROCESS_PAGES["a.test/check_builtins.py"]


@pytest.fixture(scope="module")
def secret() -> str:
    return uuid.uuid4().hex


def _make_sites(root: Path, pages: dict[str, str]) -> Path:
    for name, source in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    pages = {f"a.test/{name}": source for name, source in ATTACKER.items()}
    pages.update({"a.test/victim.py": VICTIM, "b.test/victim.py": VICTIM})
    root = _make_sites(tmp_path_factory.mktemp("sites"), pages)
    with run_dynlan(root, "--no-access-log", config=SANDBOX_CONFIG) as s:
        # Each site's worker started before anything is timed.
        for host in ("a.test", "b.test"):
            assert httpx.get(s.url + "/victim", headers={"Host": host}, timeout=60).status_code == 200
        yield s


def attacker(server: RunningServer, path: str, **query: str) -> httpx.Response:
    r = httpx.get(server.url + path, params=query, headers={"Host": "a.test"}, timeout=60)
    assert r.status_code == 200, r.text
    return r


def victims_answer(server: RunningServer, secret: str) -> None:
    """The victim asks on both sites with its secret: the right answer, in under a second."""
    for host in ("a.test", "b.test"):
        r = httpx.get(server.url + "/victim", headers={"Host": host, "Cookie": f"session={secret}"}, timeout=30)
        assert r.status_code == 200 and r.json() == {"hello": "victim", "characters": 32}, (host, r.text)
        assert r.elapsed.total_seconds() < 1.0, (host, r.elapsed)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:g} s: {what}")
        time.sleep(0.02)


def running(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    return [pid for pid in found if _state(pid) not in ("Z", "")]


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


@pytest.mark.parametrize("page", ["/patch_builtins", "/patch_modules"])
def test_a_patched_builtin_or_module_dies_with_its_request(server: RunningServer, secret: str, page: str) -> None:
    assert attacker(server, page).text == "patched"
    victims_answer(server, secret)
    report = attacker(server, page, report="1").text
    assert secret not in report


def test_a_thread_ends_with_its_request(server: RunningServer, secret: str) -> None:
    pid = attacker(server, "/recorder").text
    # The process that ran the page (and its thread) is gone once the response is complete.
    wait_until(lambda: _state(pid) in ("Z", ""), f"the page's process {pid} has ended")
    victims_answer(server, secret)
    report = attacker(server, "/recorder", report="1").json()
    assert report["alive"] == [] and secret not in repr(report["recorded"])


def test_a_setsid_grandchild_is_killed_with_the_request(server: RunningServer, secret: str) -> None:
    marker = f"dynlan-stealer-{uuid.uuid4().hex}"
    state, _, stolen = attacker(server, "/setsid_child", marker=marker, out=f"stolen-{marker}").text.partition(" ")
    assert state == "running", stolen
    out = Path(stolen)
    wait_until(lambda: not running(marker), f"no process named {marker}")
    victims_answer(server, secret)
    assert not out.exists() or secret.encode() not in out.read_bytes()


def test_a_fork_bomb_is_stopped_by_the_cap_and_cleared(server: RunningServer, secret: str) -> None:
    marker = f"dynlan-fork-{uuid.uuid4().hex}"
    started, refused = attacker(server, "/fork_many", marker=marker).text.split()
    # 32 processes and threads at once for the worker, the request's process and all it starts.
    assert int(started) < 32 and refused == "BlockingIOError", (started, refused)
    wait_until(lambda: not running(marker), f"no process named {marker}")
    victims_answer(server, secret)
    assert attacker(server, "/victim").json() == {"hello": "victim", "characters": 0}


def test_memory_a_page_inherits_holds_no_earlier_request(server: RunningServer, secret: str) -> None:
    victims_answer(server, secret)
    assert attacker(server, "/scan_memory").text == "nothing"


def test_in_process_builtins_stay_in_their_request(tmp_path: Path) -> None:
    root = _make_sites(tmp_path, IN_PROCESS_PAGES)
    with run_dynlan(root, "--no-access-log", config='[python]\nsandbox = "none"\n') as server:
        def get(host: str, path: str) -> str:
            r = httpx.get(server.url + path, headers={"Host": host}, timeout=30)
            assert r.status_code == 200, r.text
            return r.text

        assert get("a.test", "/patch_builtins") == "patched"
        # Neither another site's page nor the next request of the same site sees the change.
        assert get("b.test", "/check_builtins") == "clean 3"
        assert get("a.test", "/check_builtins") == "clean 3"
