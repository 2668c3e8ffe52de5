"""PHP confined per site: hostile pages of `a.test` against the victim `b.test` on one server.

`a.test` is the attacker, `b.test` the victim with `_secret.txt`, a PHP file that prints a
secret and a session holding one; `x.test` is a site the server config allows to run programs
(`[php] exec_sites`, `allow_exec = true` in its `dynlan.toml`). Each attack is checked by what
the attacker's response holds (never a secret of `b.test`), and the server is asked afterwards
whether the victim still answers. Every wait polls against a generous deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

SECRET = "B-SECRET-7f3a9c"
SESSION_SECRET = "B-SESSION-SECRET-51d2"
WALL_TIME = 5

ATTACKER = {
    "hello.php": "<?php echo 'a here';\n",
    # The host API's tokens: guess neighbours of our own, try a token of b.test's on our socket
    # and our token on b.test's socket. Every accepted guess is reported with what it read.
    "token.php": r"""<?php
header('Content-Type: application/json');
function ask(string $socket, string $token, string $path) {
    $c = @stream_socket_client('unix://' . $socket, $errno, $errstr, 2);
    if ($c === false) { return ['reached' => false]; }
    fwrite($c, "$token\n" . json_encode(['op' => 'fs_read', 'args' => [$path]]) . "\n");
    $reply = fgets($c);
    fclose($c);
    return ['reached' => true, 'reply' => $reply === false ? null : json_decode($reply, true)];
}
$mine = $_SERVER['DYNLAN_TOKEN'];
$socket = $_SERVER['DYNLAN_HOST_SOCKET'];
$guesses = [];
if (strlen($mine) > 32 && ctype_xdigit($mine)) {
    // A fixed key and a counter: the tokens of the requests just before and after ours.
    $key = substr($mine, 0, 32);
    $n = hexdec(substr($mine, 32));
    for ($i = max(1, $n - 64); $i <= $n + 64; $i++) { if ($i != $n) { $guesses[] = $key . dechex($i); } }
}
$alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
for ($i = 0; $i < strlen($alphabet); $i++) {  // anything else: its last character varied
    $guesses[] = substr($mine, 0, -1) . $alphabet[$i];
}
$accepted = [];
foreach (array_unique($guesses) as $guess) {
    if ($guess === $mine) { continue; }
    $r = ask($socket, $guess, '_secret.txt');
    if (($r['reply']['ok'] ?? false) === true) { $accepted[] = ['guess' => $guess, 'value' => $r['reply']['value']]; }
}
$own = ask($socket, $mine, 'hello.php');  // the way in works, with our own token
$stolen = ask($socket, $_GET['stolen'], '_secret.txt');
$crossed = ask($_GET['victim_socket'], $mine, '../b.test/_secret.txt');
echo json_encode(['guesses' => count($guesses), 'accepted' => $accepted, 'own' => $own, 'stolen_on_our_socket' => $stolen,
                  'ours_on_their_socket' => $crossed]);
""",
    # Files of b.test (and of the machine) through every door PHP has.
    "read.php": r"""<?php
header('Content-Type: application/json');
$b = dirname(__DIR__) . '/b.test';
$out = [];
$try = function (string $name, callable $f) use (&$out) {
    ob_start();
    try { $v = @$f(); } catch (Throwable $e) { $v = get_class($e) . ': ' . $e->getMessage(); }
    $printed = ob_get_clean();
    $out[$name] = is_string($v) || $v === false || $v === null ? [$v, $printed] : [json_encode($v), $printed];
};
$try('relative', fn() => file_get_contents('../b.test/_secret.txt'));
$try('absolute', fn() => file_get_contents("$b/_secret.txt"));
$try('file_url', fn() => file_get_contents("file://$b/_secret.txt"));
$try('php_filter', fn() => file_get_contents("php://filter/resource=$b/_secret.txt"));
$try('fopen', fn() => fread(fopen("$b/_secret.txt", 'r'), 100));
$try('file', fn() => implode('', file("$b/_secret.txt")));
$try('readfile', fn() => readfile("$b/_secret.txt"));
$try('spl', fn() => (new SplFileObject("$b/_secret.txt"))->fgets());
$try('highlight', fn() => highlight_file("$b/lib.php", true));
$try('copy', fn() => copy("$b/_secret.txt", __DIR__ . '/_copied.txt') ? file_get_contents(__DIR__ . '/_copied.txt') : false);
$try('symlink', fn() => symlink("$b/_secret.txt", __DIR__ . '/_link.txt') ? file_get_contents(__DIR__ . '/_link.txt') : false);
$try('scandir', fn() => scandir($b));
$try('glob', fn() => glob("$b/*"));
$try('chdir', fn() => chdir('..') ? file_get_contents('b.test/_secret.txt') : false);
$try('ini_set', fn() => ini_set('open_basedir', '/') !== false ? file_get_contents("$b/_secret.txt") : false);
$try('etc_passwd', fn() => file_get_contents('/etc/passwd'));
$try('proc_cmdline', fn() => file_get_contents('/proc/self/cmdline'));
$try('host_api', fn() => dynlan_fs_read('../b.test/_secret.txt'));
$try('host_api_absolute', fn() => dynlan_fs_read("$b/_secret.txt"));
$try('include', fn() => include "$b/lib.php");
$try('include_relative', fn() => include '../b.test/lib.php');
$try('include_path', fn() => set_include_path($b) !== false ? include 'lib.php' : false);
// Sessions: our own session folder, and b.test's where it told us its folder.
$try('sessions_here', fn() => array_map('file_get_contents', glob(session_save_path() . '/sess_*') ?: []));
$try('sessions_there', fn() => array_map('file_get_contents', glob($_GET['b_sessions'] . '/sess_*') ?: []));
$try('session_path_there', function () {
    ini_set('session.save_path', $_GET['b_sessions']);
    session_id($_GET['b_session_id']);
    session_start();
    return json_encode($_SESSION);
});
echo json_encode($out);
""",
    # php-cgi's own FastCGI sockets: a request there with SCRIPT_FILENAME naming b.test's secret would
    # have b.test's php-cgi print the file. Every unix socket the page can find is tried.
    "fcgi.php": r"""<?php
header('Content-Type: application/json');
function pair(string $k, string $v): string {
    $len = fn(string $s) => strlen($s) < 128 ? chr(strlen($s)) : pack('N', strlen($s) | 0x80000000);
    return $len($k) . $len($v) . $k . $v;
}
function record(int $type, string $content): string { return pack('CCnnCx', 1, $type, 1, strlen($content), 0) . $content; }
$dir = dirname($_SERVER['DYNLAN_HOST_SOCKET']);
$candidates = [];
foreach ([$dir, dirname($dir), dirname($_GET['victim_socket'])] as $d) {
    foreach (@glob("$d/*.sock") ?: [] as $p) { $candidates[] = $p; }
    foreach (@glob("$d/*/*.sock") ?: [] as $p) { $candidates[] = $p; }
    for ($i = 1; $i <= 16; $i++) { $candidates[] = "$d/php-$i.sock"; }
}
foreach (explode("\n", (string)@file_get_contents('/proc/net/unix')) as $line) {
    $path = trim((string)strstr($line, '/'));
    if ($path !== '') { $candidates[] = $path; }
}
$reached = [];
$leaked = [];
foreach (array_unique($candidates) as $path) {
    if (in_array(basename($path), ['host.sock'], true) || $path === $_GET['victim_socket']) { continue; }
    $c = @stream_socket_client('unix://' . $path, $errno, $errstr, 1);
    if ($c === false) { continue; }
    $reached[] = $path;
    stream_set_timeout($c, 1);
    $params = pair('SCRIPT_FILENAME', dirname(__DIR__) . '/b.test/_secret.txt') . pair('REQUEST_METHOD', 'GET')
            . pair('REDIRECT_STATUS', '200') . pair('SCRIPT_NAME', '/x');
    fwrite($c, record(1, pack('nCx5', 1, 0)) . record(4, $params) . record(4, '') . record(5, ''));
    $leaked[] = (string)fread($c, 65536);
    fclose($c);
}
echo json_encode(['reached' => $reached, 'answers' => $leaked]);
""",
    # Programs: every way PHP has to start one (the command would print EXECUTED).
    "exec.php": r"""<?php
header('Content-Type: application/json');
$out = [];
$cmd = 'echo EXECUTED';
$tries = [
    'system' => fn() => system($cmd),
    'exec' => fn() => exec($cmd),
    'shell_exec' => fn() => shell_exec($cmd),
    'backticks' => fn() => `echo EXECUTED`,
    'passthru' => fn() => passthru($cmd),
    'popen' => fn() => fread(popen($cmd, 'r'), 100),
    'proc_open' => fn() => stream_get_contents(proc_open($cmd, [1 => ['pipe', 'w']], $pipes) ? $pipes[1] : null),
    'pcntl_exec' => fn() => pcntl_exec('/bin/sh', ['-c', $cmd]),
    'pcntl_fork' => fn() => pcntl_fork(),
    'mail' => fn() => mail('a@example.com', 's', 'b'),
    'putenv' => fn() => putenv('LD_PRELOAD=/nonexistent.so'),
    'posix_kill' => fn() => posix_kill(1, 0),
    'posix_setrlimit' => fn() => posix_setrlimit(POSIX_RLIMIT_AS, POSIX_RLIMIT_INFINITY, POSIX_RLIMIT_INFINITY),
    'dl' => fn() => dl('x.so'),
    'ffi' => fn() => FFI::cdef('int getpid(void);')->getpid(),
    'disable_functions' => fn() => ini_set('disable_functions', ''),
    // mail() is disabled, but error_log type 1 mails through sendmail_path all the same: only the
    // process-count cap stops the shell it starts.
    'error_log_mail' => fn() => error_log('x', 1, 'a@example.com'),
];
foreach ($tries as $name => $f) {
    ob_start();
    try { $v = @$f(); } catch (Throwable $e) { $v = get_class($e) . ': ' . $e->getMessage(); }
    $out[$name] = [var_export($v, true), ob_get_clean()];
}
echo json_encode($out);
""",
    "memory.php": r"""<?php
ini_set('memory_limit', '-1');
$keep = [];
for ($i = 0; $i < 128; $i++) { $keep[] = str_repeat('x', 8 << 20); }
echo 'allocated ' . (count($keep) * 8) . ' MiB';
""",
    "spin.php": "<?php\nset_time_limit(0);\nwhile (true) {}\n",
}

VICTIM = {
    "_secret.txt": SECRET + "\n",
    "lib.php": f"<?php echo '{SECRET}';\n",
    "hello.php": "<?php echo 'b here';\n",
    "session.php": f"<?php session_start(); $_SESSION['secret'] = '{SESSION_SECRET}'; echo session_id();\n",
    # A request in flight: it says where its host socket and session folder are (for the attacker to
    # aim at) and waits until the test releases it.
    "wait.php": r"""<?php
file_put_contents(__DIR__ . '/_inflight.json', json_encode(['token' => $_SERVER['DYNLAN_TOKEN'],
    'socket' => $_SERVER['DYNLAN_HOST_SOCKET'], 'sessions' => session_save_path()]));
$deadline = microtime(true) + 4;
while (!file_exists(__DIR__ . '/_release') && microtime(true) < $deadline) { usleep(20000); }
echo dynlan_fs_read('_secret.txt') === "B-SECRET-7f3a9c\n" ? 'victim read its secret' : 'victim failed';
""",
}

EXEC_SITE = {
    "dynlan.toml": "[php]\nallow_exec = true\n",
    # Children that leave the session (setsid), one of them through a shell that exits at once.
    "children.php": r"""<?php
$m = $_GET['m'];
exec("setsid sleep 1000.$m > /dev/null 2>&1 &");
exec("(setsid sleep 1001.$m > /dev/null 2>&1 &) > /dev/null 2>&1");
if (isset($_GET['spin'])) { set_time_limit(0); while (true) {} }
echo 'started ', trim((string)shell_exec("pgrep -c -f 'sleep 100[01].$m'"));
""",
    # More processes than the cap allows: the count that ran at once.
    "fork.php": r"""<?php
$m = $_GET['m'];
exec("for i in $(seq 40); do (sleep 30.$m > /dev/null 2>&1 &) 2>/dev/null; done 2>/dev/null");
echo (int)trim((string)shell_exec("pgrep -c -f 'sleep 30.$m'"));
""",
    "exec.php": "<?php echo shell_exec('echo EXECUTED');\n",
}


def config(marker: Path, idle_timeout: float = 60) -> str:
    return f"""
[limits]
wall_time = {WALL_TIME}

[php]
processes = 2
idle_timeout = {idle_timeout}
exec_sites = ["x.test"]
ini = {{ sendmail_path = "touch {marker}" }}
"""


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("confinement") / "sites"
    _write(root / "a.test", ATTACKER)
    _write(root / "b.test", VICTIM)
    _write(root / "x.test", EXEC_SITE)
    _write(root / "t.test", {"dynlan.toml": '[php]\nini = { precision = "5" }\n',
                             "precision.php": "<?php echo ini_get('precision');\n"})
    (root / "a.test" / "precision.php").write_text("<?php echo ini_get('precision');\n")
    return root


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marker") / "sendmail-ran"


@pytest.fixture(scope="module")
def server(sites: Path, marker: Path) -> Iterator[RunningServer]:
    with run_dynlan(sites, config=config(marker)) as s:
        for host in ("a.test", "b.test"):
            assert get(s, host, "/hello.php").status_code == 200  # both pools started
        yield s


def get(server: RunningServer, host: str, path: str, timeout: float = 30, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, headers={"Host": host}, params=params, timeout=timeout)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def victim_answers_fast(server: RunningServer) -> None:
    started = time.monotonic()
    r = get(server, "b.test", "/hello.php", timeout=5)
    assert r.status_code == 200 and r.text == "b here"
    assert time.monotonic() - started < 1.0


@contextlib.contextmanager
def victim_in_flight(server: RunningServer, sites: Path) -> Iterator[dict[str, str]]:
    """A b.test request that holds its host-API token until the block ends; yields what it told."""
    folder = sites / "b.test"
    for name in ("_inflight.json", "_release"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(get(server, "b.test", "/wait.php")))
    thread.start()
    try:
        wait_for(lambda: (folder / "_inflight.json").exists() and (folder / "_inflight.json").stat().st_size > 0,
                 "the victim's request to start")
        yield json.loads((folder / "_inflight.json").read_text())
    finally:
        (folder / "_release").touch()
        thread.join(30)
    assert answers and answers[0].status_code == 200 and answers[0].text == "victim read its secret"


def test_tokens_of_other_requests_cannot_be_derived_or_replayed(server: RunningServer, sites: Path) -> None:
    with victim_in_flight(server, sites) as victim:
        r = get(server, "a.test", "/token.php", stolen=victim["token"], victim_socket=victim["socket"])
    assert r.status_code == 200, r.text
    assert SECRET not in r.text
    out = r.json()
    assert out["own"]["reply"] == {"ok": True, "value": ATTACKER["hello.php"]}
    assert out["accepted"] == []
    # A token of b.test's, even once leaked, is refused on a.test's socket.
    assert out["stolen_on_our_socket"]["reply"]["ok"] is False
    # Our token means nothing on b.test's socket (where the page can reach it at all).
    assert out["ours_on_their_socket"].get("reply", {}).get("ok", False) is False
    assert len(victim["token"]) >= 22  # 128 random bits, URL-safe base64
    victim_answers_fast(server)


def test_files_of_another_site_are_out_of_reach(server: RunningServer, sites: Path) -> None:
    session_id = get(server, "b.test", "/session.php").text
    with victim_in_flight(server, sites) as victim:
        r = get(server, "a.test", "/read.php", b_sessions=victim["sessions"], b_session_id=session_id)
    assert r.status_code == 200, r.text
    assert SECRET not in r.text and SESSION_SECRET not in r.text
    out = r.json()
    for name, (value, printed) in out.items():
        if name in ("sessions_here", "include_path", "session_path_there"):
            continue  # our own sessions; PHP's include/session errors: their output is checked above
        got_nothing = value in (False, None, "", "[]", "false") or re.match(r"\w+(Error|Exception)\b", value)
        assert got_nothing and printed == "", (name, value, printed)
    assert out["host_api"][0].startswith("RuntimeException")
    assert out["ini_set"][0] is False  # open_basedir cannot be widened at run time
    assert not (sites / "a.test" / "_copied.txt").exists()
    victim_answers_fast(server)


def test_no_fastcgi_socket_of_php_cgi_can_be_reached(server: RunningServer, sites: Path) -> None:
    with victim_in_flight(server, sites) as victim:
        r = get(server, "a.test", "/fcgi.php", victim_socket=victim["socket"])
    assert r.status_code == 200, r.text
    assert SECRET not in r.text
    assert r.json()["reached"] == []


def test_programs_cannot_be_started(server: RunningServer, marker: Path) -> None:
    r = get(server, "a.test", "/exec.php")
    assert r.status_code == 200, r.text
    assert "EXECUTED" not in r.text
    out = r.json()
    for name in ("system", "exec", "shell_exec", "backticks", "passthru", "popen", "proc_open", "pcntl_exec",
                 "pcntl_fork", "mail", "putenv", "posix_kill", "posix_setrlimit", "dl"):
        assert "Call to undefined function" in out[name][0], (name, out[name])
    assert "FFI" in out["ffi"][0] and "ffi.enable" in out["ffi"][0]
    assert out["disable_functions"][0] == "false"
    assert out["error_log_mail"][0] == "false"
    assert not marker.exists()  # the sendmail shell never ran: php-cgi may not start processes at all


def test_the_memory_limit_lifted_by_the_page_is_held_by_the_os(server: RunningServer) -> None:
    r = get(server, "a.test", "/memory.php")
    assert r.status_code == 500 and "allocated" not in r.text
    assert "memory" in server.log()
    assert get(server, "a.test", "/hello.php").text == "a here"
    victim_answers_fast(server)


def test_set_time_limit_0_does_not_outlive_the_wall_time(server: RunningServer) -> None:
    answers: list[tuple[httpx.Response, float]] = []

    def spin() -> None:
        started = time.monotonic()
        r = get(server, "a.test", "/spin.php")
        answers.append((r, time.monotonic() - started))

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        deadline = time.monotonic() + WALL_TIME - 1
        while time.monotonic() < deadline and thread.is_alive():
            victim_answers_fast(server)
    finally:
        thread.join(60)
    [(r, took)] = answers
    assert r.status_code == 503
    assert took < WALL_TIME + 10
    assert get(server, "a.test", "/hello.php").text == "a here"


def test_a_site_sets_its_own_ini_for_itself_only(server: RunningServer) -> None:
    assert get(server, "t.test", "/precision.php").text == "5"
    assert get(server, "a.test", "/precision.php").text == "14"


def _running(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False).stdout
    return out.split()


def test_children_of_a_page_end_with_its_request(server: RunningServer) -> None:
    assert get(server, "x.test", "/exec.php").text == "EXECUTED\n"  # the site may run programs
    for spin in (False, True):
        m = marker_for_test()
        params = {"m": m, **({"spin": "1"} if spin else {})}
        r = get(server, "x.test", "/children.php", **params)
        assert r.status_code == (503 if spin else 200)
        assert spin or r.text == "started 2"  # both ran, then outlived the shells that started them
        wait_for(lambda m=m: _running(f"sleep 100[01].{m}") == [], "the page's children to be killed", timeout=15)


def test_a_page_that_may_run_programs_is_held_to_a_process_count(server: RunningServer) -> None:
    m = marker_for_test()
    r = get(server, "x.test", "/fork.php", m=m)
    assert r.status_code == 200
    assert 0 < int(r.text) <= 16
    wait_for(lambda: _running(f"sleep 30.{m}") == [], "the page's processes to be killed", timeout=15)


def _php_cgi_processes(server: RunningServer) -> list[int]:
    """The php-cgi processes under the server (its workers' children, whichever thread started them)."""
    found = []
    for worker in server.worker_pids():
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{worker}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{worker}/task/{task}/children") as f:
                    for pid in f.read().split():
                        with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as c:
                            if c.read().strip() == "php-cgi":
                                found.append(int(pid))
    return found


def test_idle_pools_shrink_to_nothing(tmp_path: Path) -> None:
    root = tmp_path / "sites"
    names = [f"s{i}.test" for i in range(10)]
    for name in names:
        _write(root / name, {"pid.php": "<?php echo getmypid();\n"})
    with run_dynlan(root, config=config(tmp_path / "marker", idle_timeout=1)) as s:
        pids = set()
        for name in names:
            pid = get(s, name, "/pid.php").text
            assert int(pid) in _php_cgi_processes(s)  # seen where the shrinking is looked for
            pids.add(pid)
        assert len(pids) == len(names)  # a pool per site
        wait_for(lambda: _php_cgi_processes(s) == [], "idle php-cgi processes to stop")
        again = get(s, names[0], "/pid.php")  # the site's next request starts its pool again
        assert again.status_code == 200 and again.text not in pids
        wait_for(lambda: _php_cgi_processes(s) == [], "idle php-cgi processes to stop again")
        assert not [p for p in _running("php-cgi") if int(p) in pids]


def test_a_real_application_works_confined(tmp_path: Path) -> None:
    """Adminer (Debian's package) with SQLite: login page, a login with sessions and redirects, a query."""
    source = Path("/usr/share/adminer/adminer.php")
    assert source.exists(), "apt-get install adminer php-sqlite3"
    site = tmp_path / "sites" / "db.test"
    site.mkdir(parents=True)
    (site / "adminer.php").write_bytes(source.read_bytes())
    database = site / "data" / "app.sqlite"
    database.parent.mkdir()
    subprocess.run(["php", "-r", f"$d = new SQLite3('{database}'); $d->exec('CREATE TABLE notes (body TEXT)');"
                    " $d->exec(\"INSERT INTO notes VALUES ('hello adminer')\");"], check=True)
    # Adminer refuses passwordless logins unless a plugin allows them: a tiny wrapper does, as its docs show.
    (site / "index.php").write_text("""<?php
function adminer_object() {
    class NoPassword extends Adminer { function login($login, $password) { return true; } }
    return new NoPassword;
}
include __DIR__ . '/adminer.php';
""")
    login = {"auth[driver]": "sqlite", "auth[server]": "", "auth[username]": "", "auth[password]": "",
             "auth[db]": str(database), "auth[permanent]": "1"}
    with run_dynlan(tmp_path / "sites", config=config(tmp_path / "marker")) as s, \
            httpx.Client(base_url=s.url, headers={"Host": "db.test"}, timeout=30) as c:
        page = c.get("/index.php")
        assert page.status_code == 200 and "Login - Adminer" in page.text and "SQLite 3" in page.text
        r = c.post("/index.php", data=login)  # the session it starts is kept in the site's private folder
        assert r.status_code == 302, r.text[:2000]
        database_page = r.headers["location"]
        r = c.get(database_page)
        assert r.status_code == 200 and "Tables and views" in r.text and "notes" in r.text, r.text[:2000]
        # An upload: an SQL file imported through Adminer's form (its CSRF token from the session).
        form = c.get(database_page + "&import=")
        token = re.search(r"name='token' value='([^']+)'", form.text)
        assert token, form.text[:2000]
        r = c.post(database_page + "&import=", data={"token": token.group(1), "error_stops": "1"},
                   files={"sql_file[]": ("rows.sql", b"INSERT INTO notes VALUES ('uploaded row');\n", "application/sql")})
        assert r.status_code == 200
        r = c.get(database_page + "&select=notes")
        assert r.status_code == 200 and "hello adminer" in r.text and "uploaded row" in r.text
        # A database file outside the site is refused by open_basedir, not made.
        outside = tmp_path / "outside.sqlite"
        r = c.post("/index.php", data={**login, "auth[db]": str(outside)}, follow_redirects=True)
        assert "Tables and views" not in r.text, r.text[:2000]
        assert not outside.exists()


_markers: list[str] = []
"""The unique arguments of the `sleep` processes tests started (only those are cleaned up after a failure)."""


def marker_for_test() -> str:
    m = str(uuid.uuid4().int % 10**9)
    _markers.append(m)
    return m


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    while _markers:
        m = _markers.pop()
        for pid in _running(f"sleep (1000|1001|30)\\.{m}$"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.mark.skipif(os.geteuid() != 0, reason="only a server running as root can run php-cgi as another user")
def test_php_runs_as_the_configured_user() -> None:
    # Sites a user other than root can reach (pytest's own temporary folders are root's alone).
    root = Path(tempfile.mkdtemp(prefix="dynlan-php-user-", dir="/tmp"))
    try:
        root.chmod(0o755)
        _write(root / "u.test", {
            "id.php": "<?php echo posix_geteuid(), ' ', posix_getegid();\n",
            "session.php": "<?php session_start(); $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1; echo $_SESSION['n'];\n",
            "mine.php": "<?php echo var_export(@file_get_contents(__DIR__ . '/_root_only.txt'), true);\n",
            "cache.php": "<?php dynlan_cache_set('k', 'v'); echo dynlan_cache_get('k');\n",
        })
        _write(root / "x.test", {**EXEC_SITE, "id.php": "<?php echo trim(shell_exec('id -u'));\n"})
        (root / "u.test" / "_root_only.txt").write_text(SECRET)
        (root / "u.test" / "_root_only.txt").chmod(0o600)
        for folder in (root / "u.test", root / "x.test"):
            folder.chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        with run_dynlan(root, config=config(root / "marker") + 'user = "nobody"\n') as s:
            assert get(s, "u.test", "/id.php").text == f"{nobody.pw_uid} {nobody.pw_gid}"
            assert get(s, "x.test", "/id.php").text == str(nobody.pw_uid)  # and so do its programs
            with httpx.Client(base_url=s.url, headers={"Host": "u.test"}) as c:
                assert [c.get("/session.php").text for _ in range(2)] == ["1", "2"]
            assert get(s, "u.test", "/cache.php").text == "v"  # the host socket is the user's
            r = get(s, "u.test", "/mine.php")
            assert r.text == "false" and SECRET not in r.text  # a file of root's, even in the site
    finally:
        shutil.rmtree(root, ignore_errors=True)
