"""`dynlan routes`, `dynlan check` and `dynlan reload`, through the real command line.

`routes` and `check` load a tree as `dynlan serve` does before it listens, so
a tree `serve` refuses is refused by `check` with the same line and exit status;
`reload` talks to a running server through its control socket.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._server import free_port, run_dynlan

pytestmark = pytest.mark.e2e

TIMEOUT = 60


def dynlan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dynlan", *args], capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def make_tree(root: Path) -> Path:
    sites = root / "sites"
    files = {
        "a.test/index.lua": "print('home')\n",
        "a.test/hello.lua": "print('hello')\n",
        "a.test/info.php": "<?php echo 'info';\n",
        "a.test/page.tmpl": "page $path\n",
        "a.test/users/[id].py": "def handle(request, response):\n    response.write(request.params['id'])\n",
        "a.test/_lib/util.lua": "return {}\n",
        "a.test/style.css": "body { color: red }\n",
        "b.test/index.html": "<h1>b</h1>\n",
        "b.test/dynlan.toml": "[static]\nlisting = false\n",
    }
    for rel, text in files.items():
        (sites / rel).parent.mkdir(parents=True, exist_ok=True)
        (sites / rel).write_text(text)
    return sites


def test_routes_prints_each_sites_pages_in_aligned_columns(tmp_path: Path) -> None:
    sites = make_tree(tmp_path)
    p = dynlan("routes", str(sites))
    assert p.returncode == 0, p.stderr
    a, b = sites.resolve() / "a.test", sites.resolve() / "b.test"
    assert p.stdout == f"""\
site a.test (default site): {a}
  rules: none
  pages (5):
    URL          PAGE           RUNTIME
    /            index.lua      lua
    /hello       hello.lua      lua
    /info        info.php       php  (also /info.php/*)
    /page        page.tmpl      template
    /users/[id]  users/[id].py  python
  static files from {a}

site b.test: {b}
  rules: none
  pages: none
  static files from {b}
"""


SITE_RULES = """\
[[route]]
path = "/old/*"
redirect = "/new/{path}"
status = 308

[[route]]
path = "/ping"
respond = { status = 200, body = "pong" }
"""
SERVER_RULES = '[[route]]\npath = "/health"\nrespond = { status = 200, body = "ok" }\n'


def test_routes_lists_each_sites_rules_first_in_evaluation_order(tmp_path: Path) -> None:
    sites = make_tree(tmp_path)
    (sites / "a.test" / "dynlan.toml").write_text(SITE_RULES)
    config = tmp_path / "server.toml"
    config.write_text(SERVER_RULES)
    p = dynlan("routes", str(sites), "--config", str(config))
    assert p.returncode == 0, p.stderr
    blocks = p.stdout.split("\n\n")
    a_rules = blocks[0].splitlines()[1:5]
    assert a_rules[0] == "  rules, in evaluation order (3):"
    # Exact paths before prefixes; each rule says where it was written.
    assert [line.split()[:2] for line in a_rules[1:]] == [["1.", "/health"], ["2.", "/ping"], ["3.", "/old/*"]]
    assert str(config) in a_rules[1] and str(sites / "a.test" / "dynlan.toml") in a_rules[2]
    assert "redirect 308 /new/{path}" in a_rules[3]
    assert len({line.index("->") for line in a_rules[1:]}) == 1, a_rules  # the paths are one aligned column
    assert blocks[0].splitlines()[5] == "  pages (5):"
    b_rules = blocks[1].splitlines()[1:3]
    assert b_rules[0] == "  rules, in evaluation order (1):" and b_rules[1].split()[:2] == ["1.", "/health"]

    p = dynlan("check", str(sites), "--config", str(config))
    # The server's rule applies to both sites and counts once.
    assert (p.returncode, p.stdout) == (0, "ok: 2 sites, 5 pages, 3 rules\n"), p.stderr


def test_check_a_good_tree(tmp_path: Path) -> None:
    p = dynlan("check", str(make_tree(tmp_path)))
    assert (p.returncode, p.stdout) == (0, "ok: 2 sites, 5 pages, 0 rules\n"), p.stderr


def refused_by_serve(sites: Path, *args: str) -> str:
    p = dynlan("serve", str(sites), "--port", str(free_port()), *args)
    assert p.returncode == 2, p.stderr
    return p.stderr


@pytest.mark.parametrize(
    ("site_toml", "message"),
    [
        ("[static]\nlisting = 1\n", "static.listing: expected bool, got 1"),
        ("[statics]\nlisting = true\n", "unknown key 'statics'"),
        ("[static\n", "invalid TOML: "),
        ('[[route]]\npath = "/x"\nredirect = "/y"\nstatus = 200\n', "route[0].status: "),
    ],
)
def test_check_refuses_a_bad_site_file_as_serve_does(tmp_path: Path, site_toml: str, message: str) -> None:
    sites = make_tree(tmp_path)
    (sites / "b.test" / "dynlan.toml").write_text(site_toml)
    p = dynlan("check", str(sites))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"dynlan: error: {sites / 'b.test' / 'dynlan.toml'}: {message}"), p.stderr
    assert p.stderr == refused_by_serve(sites)


def test_check_refuses_a_bad_server_config_and_unreadable_tls_files(tmp_path: Path) -> None:
    sites = make_tree(tmp_path)
    config = tmp_path / "server.toml"
    config.write_text("[server]\nworkerz = 2\n")
    p = dynlan("check", str(sites), "--config", str(config))
    assert p.returncode == 2 and "server.workerz" in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr == refused_by_serve(sites, "--config", str(config))

    missing = tmp_path / "missing.pem"
    config.write_text(f'[tls]\ncert = "{missing}"\nkey = "{missing}"\n')
    p = dynlan("check", str(sites), "--config", str(config))
    assert (p.returncode, p.stderr) == (2, f"dynlan: error: TLS: cannot read {missing}\n")


def test_check_and_routes_refuse_two_pages_on_one_url(tmp_path: Path) -> None:
    sites = make_tree(tmp_path)
    (sites / "a.test" / "hello.py").write_text("def handle(request, response):\n    pass\n")
    for command in ("check", "routes"):
        p = dynlan(command, str(sites))
        assert (p.returncode, p.stdout) == (2, "")
        assert p.stderr == (f"dynlan: error: {sites.resolve() / 'a.test'}: "
                            f"pages hello.lua and hello.py both answer the same URL /hello\n")
    assert p.stderr == refused_by_serve(sites)


def test_reload_without_a_server(tmp_path: Path) -> None:
    port = free_port()
    p = dynlan("reload", "--port", str(port))
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith(f"dynlan: error: no running dynlan server found on port {port} "), p.stderr


def test_reload_applies_a_changed_site_file_and_keeps_the_old_one_when_the_new_is_bad(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "files").mkdir(parents=True)
    (site / "files" / "a.txt").write_text("a\n")
    (site / "hello.lua").write_text("print('hello')\n")
    toml = site / "dynlan.toml"
    toml.write_text("[static]\nlisting = false\n")
    with run_dynlan(site, "--workers", "2") as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/files/").status_code == 404

        toml.write_text("[static]\nlisting = true\n")
        p = dynlan("reload", "--port", str(server.port))
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        # One line per process: at least the two workers, each of which reloaded.
        assert len(lines) >= 2 and all(" reloaded" in line for line in lines), p.stdout
        for pid in server.worker_pids():
            assert any(line.startswith(f"process {pid}: reloaded") for line in lines), (pid, p.stdout)
        # Every worker has the new config: several requests, new connections, so SO_REUSEPORT spreads them.
        for _ in range(8):
            r = httpx.get(server.url + "/files/", timeout=30)
            assert r.status_code == 200 and "a.txt" in r.text, r.text

        toml.write_text('[static]\nlisting = "yes"\n')
        p = dynlan("reload", "--port", str(server.port))
        assert p.returncode == 1, p.stdout
        errors = p.stderr.splitlines()
        assert len(errors) >= 2 and all("static.listing" in e for e in errors), p.stderr
        assert all(e.startswith("dynlan: error: process ") and " kept its configuration: " in e for e in errors), p.stderr
        for _ in range(8):
            r = httpx.get(server.url + "/files/", timeout=30)
            assert r.status_code == 200 and "a.txt" in r.text, r.text
        assert client.get("/hello").text == "hello\n"


def test_a_conflict_while_serving_is_logged_and_other_new_pages_are_served(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.lua").write_text("print('hello from lua')\n")
    with run_dynlan(site) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/hello").text == "hello from lua\n"
        (site / "hello.py").write_text("def handle(request, response):\n    response.write('hello from python')\n")
        (site / "other.lua").write_text("print('other')\n")
        # A URL no page answered makes the server look again (at most once a second): ask until it has.
        deadline = time.monotonic() + 30
        while (other := client.get("/other")).status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert other.status_code == 200 and other.text == "other\n", other.text
        assert client.get("/hello").text == "hello from lua\n"
        assert client.get("/hello.py").status_code == 404  # the other page is neither run nor sent as source
        warnings = [line for line in server.log().splitlines() if "both answer /hello" in line]
        assert len(warnings) == 1 and "pages hello.lua and hello.py" in warnings[0], server.log()


def test_a_reload_keeps_the_page_a_conflicting_url_had(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.py").write_text("def handle(request, response):\n    response.write('hello from python')\n")
    with run_dynlan(site) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/hello").text == "hello from python"
        # hello.lua sorts before hello.py: a fresh start would be refused, a reload keeps what serves.
        (site / "hello.lua").write_text("print('hello from lua')\n")
        (site / "other.lua").write_text("print('other')\n")
        p = dynlan("reload", "--port", str(server.port))
        assert p.returncode == 0, p.stderr
        assert client.get("/other").text == "other\n"
        assert client.get("/hello").text == "hello from python"
        warnings = [line for line in server.log().splitlines() if "both answer /hello" in line]
        assert len(warnings) == 1 and "hello.py keeps answering it" in warnings[0], server.log()
        assert dynlan("check", str(site)).returncode == 2
