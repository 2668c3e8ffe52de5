"""Class 4: PHP pages are confined to their site and their budgets.

Host-API tokens cannot be derived from one's own; another site's files are out of reach of PHP's
own file functions; process-spawning functions are unavailable; `ini_set('memory_limit', '-1')`
and `set_time_limit(0)` lift nothing; children started with `setsid` do not outlive the request.
"""

from __future__ import annotations

import secrets as random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests._server import RunningServer
from tests.hostile._support import (
    ATTACKER,
    SLACK,
    VICTIM,
    WALL_TIME,
    WATCHDOG_GRACE,
    Answer,
    Client,
    Secrets,
    assert_no_loot,
    assert_no_secret,
    files_holding,
    hello_path,
    hello_text,
    kill_marked,
    processes_with,
    unique_sleep,
    victim_latency_during,
    wait_for,
    wait_log,
    why,
)

pytestmark = pytest.mark.e2e

SPAWNING = ["system", "exec", "shell_exec", "passthru", "backticks", "popen", "proc_open", "pcntl_fork"]


def victim_hello(client: Client) -> None:
    """A request made after the attack: the victim's PHP page answers as before."""
    r = client.get(VICTIM, hello_path("php"))
    assert r.status == 200 and r.text == hello_text("php"), why(client.server, r)


def test_tokens_of_other_requests_cannot_be_derived(h1: Client, secrets: Secrets, sites: Path) -> None:
    tag = f"slow-{random.token_hex(4)}"
    victim: list[Answer | BaseException] = []

    def slow() -> None:
        try:
            victim.append(h1.get(VICTIM, f"/php/slow.php?tag={tag}", timeout=30))
        except Exception as exc:  # reported below
            victim.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        wait_log(h1.server, tag)  # the victim's request is in flight, with its token live
        attack = h1.get(ATTACKER, f"/php/token.php?tag=attacker-{tag}", timeout=30)
    finally:
        thread.join(60)
    assert attack.status == 200, why(h1.server, attack)
    assert_no_secret(secrets, attack)
    assert "accepted" not in attack.text, f"the host accepted a token derived from the attacker's own:\n{attack.text}"
    (got,) = victim
    assert isinstance(got, Answer) and got.status == 200 and got.text == "slow done\n", got
    victim_hello(h1)


def test_other_sites_files_are_out_of_reach(h1: Client, secrets: Secrets, sites: Path) -> None:
    r = h1.get(ATTACKER, f"/php/files.php?victim={quote(str(sites / VICTIM))}")
    assert r.status == 200, why(h1.server, r)
    assert_no_secret(secrets, r)
    assert_no_loot(h1, secrets, sites)  # copies the page made into its own site
    victim_hello(h1)


@pytest.mark.parametrize("function", SPAWNING)
def test_process_spawning_is_unavailable(h1: Client, function: str) -> None:
    r = h1.get(ATTACKER, f"/php/exec.php?fn={function}")
    # A disabled function is a PHP error the page catches (200) or a failed page (500): either way no shell ran.
    assert "pwned-42" not in r.text, f"{function}() ran a shell command: {r.text[:500]}"
    assert r.status in (200, 500), why(h1.server, r)
    victim_hello(h1)


def test_memory_limit_cannot_be_lifted(h1: Client) -> None:
    r = h1.get(ATTACKER, "/php/memory.php?mb=256", timeout=30)  # four times the server's 64 MiB budget
    assert "allocated" not in r.text, f"the page lifted its memory limit: {r.text[:200]}"
    assert r.status >= 500, why(h1.server, r)
    victim_hello(h1)


def test_time_limit_cannot_be_lifted(plain: RunningServer, h1: Client) -> None:
    tag = f"timelimit-{random.token_hex(4)}"

    def attack() -> Answer:
        started = time.monotonic()
        with httpx.Client(base_url=plain.url, timeout=60) as c:
            r = c.get(f"/php/timelimit.php?tag={tag}", headers={"Host": ATTACKER})
        return Answer(r.status_code, list(r.headers.items()), r.content, "http1", time.monotonic() - started)

    run = victim_latency_during(plain, attack, tag)
    assert run.answer is not None, f"the attacker's request got no response: {run.error!r}"
    assert "survived" not in run.answer.text and run.answer.status >= 500, why(plain, run.answer)
    limit = WALL_TIME + WATCHDOG_GRACE + SLACK
    assert run.elapsed <= limit, f"the page computed {run.elapsed:.1f} s (budget {limit} s)"
    victim_hello(h1)


@pytest.fixture
def marker() -> Iterator[str]:
    m = unique_sleep()
    yield m
    kill_marked(m)


def test_setsid_children_do_not_outlive_the_request(h1: Client, marker: str) -> None:
    r = h1.get(ATTACKER, f"/php/children.php?sleep={marker}", timeout=30)
    assert r.status in (200, 500), why(h1.server, r)
    wait_for(lambda: not processes_with(marker), f"no child of the page left (sleep {marker}): {processes_with(marker)}",
             timeout=5)
    victim_hello(h1)


def test_nothing_of_the_victim_in_the_attackers_site(sites: Path, secrets: Secrets) -> None:
    """Whatever the attacks above left in the attacker's own folder (copies, links' targets read and
    written back) holds nothing of the victim's."""
    leaked = files_holding(sites / ATTACKER, secrets.all)
    assert not leaked, leaked
