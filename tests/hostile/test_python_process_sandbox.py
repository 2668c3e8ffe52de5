"""Class 6: in the Python process sandbox nothing a request does survives its response.

The attacker patches builtins and a library module, leaves a thread that records later requests,
starts children that leave its session, and tries to start 200 of them. Afterwards the victim's
pages (and the attacker's own later requests: requests of one site do not trust each other) run
with pristine builtins and modules, nothing recorded them, and every thread and child is gone.
"""

from __future__ import annotations

import json
import secrets as random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.hostile._support import (
    ATTACKER,
    VICTIM,
    Client,
    Secrets,
    assert_no_secret,
    files_holding,
    kill_marked,
    processes_with,
    threads_named,
    unique_sleep,
    wait_for,
    why,
)

pytestmark = pytest.mark.e2e

PRISTINE = """print=builtin_function_or_method
open=builtin_function_or_method
module.print=builtin_function_or_method
module.open=builtin_function_or_method
mark=False
module.mark=False
json.dumps=True
threads=
"""
REPEAT = 4
"""Requests of each kind: the sandbox may keep several worker processes; each must be clean."""


def victim_pages(client: Client, secrets: Secrets, tag: str) -> None:
    """The victim's client: a page whose work goes through open, print and json.dumps, then a probe of
    what its Python looks like."""
    token = json.dumps({"tag": tag, "session": secrets.cookie, "secret": secrets.file})
    for _ in range(REPEAT):
        r = client.get(VICTIM, f"/python/victim.py?tag={tag}", headers=secrets.cookie_header)
        assert r.status == 200 and r.text == f"victim ok {len(token)}\n", why(client.server, r)
    for site in (VICTIM, ATTACKER):
        for _ in range(REPEAT):
            probe = client.get(site, "/python/probe.py")
            assert probe.status == 200, why(client.server, probe)
            assert probe.text == PRISTINE, f"a later request of {site} runs with what the attacker changed:\n{probe.text}"


def assert_nothing_recorded(sites: Path, secrets: Secrets, tag: str) -> None:
    """What the attacker's spies and recorders could have written into its own site (to read back
    later): nothing of the victim's requests."""
    leaked = files_holding(sites / ATTACKER, [*secrets.all, tag])
    assert not leaked, f"the attacker's site recorded the victim's requests: {leaked}"


@pytest.fixture
def marker() -> Iterator[str]:
    m = unique_sleep()
    yield m
    kill_marked(m)


def test_patched_builtins_and_modules_do_not_outlive_the_request(h1: Client, secrets: Secrets, sites: Path) -> None:
    for _ in range(REPEAT):
        r = h1.get(ATTACKER, "/python/patch.py?modules=yes")
        assert r.status == 200 and r.text == "patched\n", why(h1.server, r)
    tag = f"victim-{random.token_hex(4)}"
    victim_pages(h1, secrets, tag)
    assert_nothing_recorded(sites, secrets, tag)


def test_threads_do_not_outlive_the_response(h1: Client, secrets: Secrets, sites: Path) -> None:
    name = f"hx{random.token_hex(4)}"
    r = h1.get(ATTACKER, f"/python/recorder.py?name={name}")
    assert r.status == 200 and r.text == "recording\n", why(h1.server, r)
    try:
        wait_for(lambda: not threads_named(name), f"the recorder thread gone: {threads_named(name)}", timeout=5)
    finally:
        tag = f"victim-{random.token_hex(4)}"
        victim_pages(h1, secrets, tag)
        assert_nothing_recorded(sites, secrets, tag)


def test_children_do_not_outlive_the_response(h1: Client, marker: str) -> None:
    r = h1.get(ATTACKER, f"/python/children.py?sleep={marker}", timeout=30)
    assert r.status in (200, 500, 503), why(h1.server, r)
    wait_for(lambda: not processes_with(marker), f"no child of the page left (sleep {marker}): {processes_with(marker)}",
             timeout=5)


def test_process_count_is_capped(h1: Client, marker: str) -> None:
    r = h1.get(ATTACKER, f"/python/bomb.py?sleep={marker}", timeout=30)
    if r.status == 200:
        started = int(r.text.split()[1])
        assert started < 200, f"the page started {started} processes: no process-count cap"
    else:
        # Stopped for going over its cap (or its budget): an error status, never a hung worker.
        assert r.status >= 500, why(h1.server, r)
    wait_for(lambda: not processes_with(marker), f"no child of the page left (sleep {marker}): {len(processes_with(marker))}",
             timeout=10)


def test_another_sites_files_are_out_of_reach_of_open(h1: Client, secrets: Secrets, sites: Path) -> None:
    r = h1.get(ATTACKER, f"/python/openfile.py?victim={quote(str(sites / VICTIM))}")
    assert r.status == 200, why(h1.server, r)
    assert_no_secret(secrets, r)


def test_the_process_reaches_nothing_outside_its_site(h1: Client) -> None:
    """The page's process cannot signal or read the server, use the network, or write outside its site."""
    r = h1.get(ATTACKER, f"/python/reach.py?port={h1.server.port}")
    assert r.status == 200, why(h1.server, r)
    lines = r.text.splitlines()
    assert len(lines) == 7, r.text
    reached = [line for line in lines if not line.split(": ", 1)[1].startswith("denied")]
    assert not reached, r.text
