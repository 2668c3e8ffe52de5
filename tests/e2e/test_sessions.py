"""Sessions end to end: one session for pages in every language, kept across two worker processes, PHP's own
$_SESSION across them too, a signed HttpOnly SameSite=Lax cookie (Secure over TLS), regenerate and delete, and no
session of one site reachable from another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PAGES = {
    # Each adds one to the session's counter and prints it: the same session whatever the language.
    "count.lua": 'local n = (session.get("n") or 0) + 1\nsession.set("n", n)\nprint(n)\n',
    "countpy.py": ("def handle(request, response):\n"
                   "    n = session.get('n', 0) + 1\n    session.set('n', n)\n    response.write(str(n))\n"),
    "countwren.wren": 'var n = Session.get("n")\nif (n == null) n = 0\nSession.set("n", n + 1)\nSystem.print(n + 1)\n',
    "countphp.php": "<?php $n = (dynlan_session_get('n') ?? 0) + 1; dynlan_session_set('n', $n); echo $n, \"\\n\";\n",
    "peek.lua": 'print(tostring(session.get("n")))\n',
    "login.lua": ('session.regenerate()\nsession.set("user", request.query.user)\n'
                  'session.set("profile", {langs = {"lua", "wren"}, admin = false})\nprint("ok")\n'),
    "whoami.lua": ('local p = session.get("profile")\n'
                   'print(tostring(session.get("user")) .. " " .. (p and p.langs[2] or "-"))\n'),
    "forget.lua": 'session.delete("user")\nprint(tostring(session.get("user")))\n',
    "logout.lua": 'session.delete()\nprint("bye")\n',
    "cached.lua": 'response.cache(60)\nprint(tostring(session.get("user")))\n',
    # PHP's own sessions: a login, then a counter, through the save handler.
    "plogin.php": ("<?php session_start(); session_regenerate_id(true); $_SESSION['user'] = $_GET['user'];\n"
                   "$_SESSION['visits'] = 0; echo 'welcome ', $_SESSION['user'];\n"),
    "pvisit.php": ("<?php session_start(); if (!isset($_SESSION['user'])) { http_response_code(403); echo 'who?'; exit; }\n"
                   "$_SESSION['visits']++; echo $_SESSION['user'], ' ', $_SESSION['visits'], ' ', getmypid();\n"),
    "plogout.php": "<?php session_start(); session_destroy(); echo 'gone';\n",
    # Read, think, write: two of these at once would both count from the same value without the session lock.
    "pslow.php": ("<?php session_start(); $n = $_SESSION['slow'] ?? 0; usleep(300000); $_SESSION['slow'] = $n + 1;\n"
                  "echo $_SESSION['slow'];\n"),
}


def _site(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, text in PAGES.items():
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("sessions") / "sites"
    _site(base / "a.test")
    _site(base / "b.test")
    return base


@pytest.fixture(scope="module")
def server(sites: Path) -> Iterator[RunningServer]:
    with run_dynlan(sites, "--workers", "2", "--no-access-log") as s:
        yield s


def _get(server: RunningServer, path: str, jar: httpx.Cookies, host: str = "a.test") -> httpx.Response:
    # A new connection per request: SO_REUSEPORT sends them to either worker.
    with httpx.Client(base_url=server.url, headers={"host": host}, cookies=jar, timeout=30) as c:
        r = c.get(path)
        jar.update(c.cookies)
    return r


def _session_cookie(jar: httpx.Cookies) -> str:
    value = jar.get("dynlan_session")
    assert value is not None
    return value


def test_one_session_for_every_language_across_workers(server: RunningServer) -> None:
    jar = httpx.Cookies()
    seen = [_get(server, p, jar).text.strip() for p in ["/count", "/countpy", "/countwren", "/countphp"] * 3]
    assert seen == [str(n) for n in range(1, 13)]


def test_the_cookie(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers={"host": "a.test"}, timeout=30) as c:
        assert c.get("/peek").headers.get("set-cookie") is None  # reading creates nothing
        cookie = c.get("/count").headers["set-cookie"]
    value = cookie.split(";")[0].split("=", 1)[1]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes and "secure" not in attributes
    assert any(a.startswith("max-age=") for a in attributes)
    sid, _, signature = value.partition(".")
    assert len(sid) >= 22 and len(signature) >= 43
    # A forged signature, or another id under this one's signature, is nobody's session.
    for forged in (f"{sid}.{'A' * len(signature)}", f"{'B' * len(sid)}.{signature}", sid):
        jar = httpx.Cookies({"dynlan_session": forged})
        assert _get(server, "/peek", jar).text.strip() == "nil"
    assert _get(server, "/peek", httpx.Cookies({"dynlan_session": value})).text.strip() == "1"
    # A change sends the cookie again, with a full Max-Age: the browser keeps it as long as the store does.
    again = _get(server, "/count", httpx.Cookies({"dynlan_session": value})).headers["set-cookie"]
    assert again.split(";")[0] == f"dynlan_session={value}" and "max-age=1209600" in again.lower()


def test_another_sites_cookie_is_no_session_there(server: RunningServer) -> None:
    jar = httpx.Cookies()
    _get(server, "/login?user=alice", jar)
    assert _get(server, "/whoami", jar).text.strip() == "alice wren"
    # The victim's cookie, sent to a hostile site on the same server: signed for a.test, so not a b.test session.
    value = _session_cookie(jar)
    assert _get(server, "/whoami", httpx.Cookies({"dynlan_session": value}), host="b.test").text.strip() == "nil -"


def test_regenerate_delete_and_logout(server: RunningServer) -> None:
    jar = httpx.Cookies()
    assert _get(server, "/count", jar).text.strip() == "1"
    before = _session_cookie(jar)
    r = _get(server, "/login?user=bob", jar)
    after = _session_cookie(jar)
    assert r.headers["set-cookie"].startswith("dynlan_session=") and after != before
    assert _get(server, "/peek", jar).text.strip() == "1"  # the data moved to the new id
    assert _get(server, "/peek", httpx.Cookies({"dynlan_session": before})).text.strip() == "nil"  # the old id is gone
    assert _get(server, "/forget", jar).text.strip() == "nil"
    assert _get(server, "/whoami", jar).text.strip() == "nil wren"
    r = _get(server, "/logout", jar)
    assert "max-age=0" in r.headers["set-cookie"].lower()
    assert _get(server, "/peek", httpx.Cookies({"dynlan_session": after})).text.strip() == "nil"


def test_a_response_made_from_a_session_is_not_cached(server: RunningServer) -> None:
    jar = httpx.Cookies()
    _get(server, "/login?user=carol", jar)
    assert _get(server, "/cached", jar).text.strip() == "carol"
    # Another visitor does not get carol's page from the response cache.
    assert _get(server, "/cached", httpx.Cookies()).text.strip() == "nil"


def test_php_login_survives_both_workers(server: RunningServer) -> None:
    jar = httpx.Cookies()
    r = _get(server, "/plogin.php?user=dora", jar)
    assert r.text == "welcome dora"
    cookie = r.headers.get_list("set-cookie")[-1].lower()
    assert cookie.startswith("phpsessid=") and "httponly" in cookie and "samesite=lax" in cookie
    pids = set()
    # Each visit's new connection goes to either worker as the kernel hashes it (SO_REUSEPORT): eight visits all
    # land on one worker once in 128 runs. Visit on until two processes have answered (64 visits: once in 2**63).
    for visit in range(1, 65):
        user, count, pid = _get(server, "/pvisit.php", jar).text.split()
        assert (user, int(count)) == ("dora", visit)
        pids.add(pid)
        if visit >= 8 and len(pids) >= 2:
            break
    assert len(pids) >= 2  # php-cgi processes of both workers' pools saw the login
    # PHP's strict mode: an id the store never handed out is not adopted.
    assert _get(server, "/pvisit.php", httpx.Cookies({"PHPSESSID": "a" * 32})).status_code == 403
    # Dora's PHP session id, sent to another site of the server, is no session there (each site its own namespace).
    stolen = httpx.Cookies({"PHPSESSID": jar["PHPSESSID"]})
    assert _get(server, "/pvisit.php", stolen, host="b.test").status_code == 403
    assert _get(server, "/pvisit.php", stolen).text.startswith("dora ")
    assert _get(server, "/plogout.php", jar).text == "gone"
    assert _get(server, "/pvisit.php", jar).status_code == 403


def test_php_sessions_are_locked_while_a_request_uses_them(server: RunningServer) -> None:
    jar = httpx.Cookies()
    assert _get(server, "/plogin.php?user=gus", jar).status_code == 200
    cookie = httpx.Cookies({"PHPSESSID": jar["PHPSESSID"]})
    results: list[str] = []

    def slow() -> None:
        results.append(_get(server, "/pslow.php", cookie).text)

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # One after another (whichever worker each reached): none lost the others' write.
    assert sorted(results) == ["1", "2", "3"]


def test_secure_over_tls(sites: Path) -> None:
    with run_dynlan(sites / "a.test", "--tls", "self-signed", "--no-access-log") as server:
        url = server.url.replace("http://", "https://")
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(url + "/count", verify=False, timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
        attributes = {part.strip().lower() for part in r.headers["set-cookie"].split(";")[1:]}
        assert "secure" in attributes and "httponly" in attributes
