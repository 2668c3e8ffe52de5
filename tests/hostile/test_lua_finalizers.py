"""Class 1: code a Lua page leaves behind (finalizers, to-be-closed handlers) never runs for another
request, and never outside a budget.

The attacker plants objects whose `__gc` (or `__close`) handler, should it ever run, reads the
running request's cookie and the running site's `_secret.txt`, writes them into the running
response, its cache and the log, and plants itself again; or spins forever. Then the victim's
client sends requests that allocate (a collection runs inside them) and hellos, with its session
cookie, and the attacker comes back to collect. The victim's answers must be exactly its own, the
attacker must never get a secret, and with the spinning handler the victim must keep answering
within a second.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer
from tests.hostile._support import (
    ATTACKER,
    SLACK,
    VICTIM,
    VICTIM_LATENCY,
    WALL_TIME,
    WATCHDOG_GRACE,
    Answer,
    Client,
    Secrets,
    assert_no_loot,
    assert_no_secret,
    hello_path,
    hello_text,
    why,
)

pytestmark = pytest.mark.e2e

VARIANTS = ["direct", "late", "late-rawset", "reused", "weak", "close", "close-error"]
GARBAGE = "/lua/garbage.lua"
ROUNDS = 20
"""Victim requests that allocate: each makes about 1 MB of garbage, several collection cycles in all."""


def plant(client: Client, variant: str, payload: str) -> Answer:
    return client.get(ATTACKER, f"/lua/gc.lua?variant={variant}&payload={payload}", timeout=30)


@pytest.mark.parametrize("variant", VARIANTS)
def test_finalizers_never_act_for_another_request(client: Client, variant: str, secrets: Secrets,
                                                  sites: Path) -> None:
    log_start = len(client.server.log())
    seen: list[Answer] = [plant(client, variant, "steal")]
    pages = [(GARBAGE, "garbage done\n"), (hello_path("lua"), hello_text("lua"))] * ROUNDS
    answers = client.exchange([(VICTIM, path, secrets.cookie_header) for path, _ in pages])
    for (path, text), r in zip(pages, answers, strict=True):
        assert r.status == 200 and r.text == text, f"{VICTIM}{path} after a planted {variant} handler: " + why(
            client.server, r)
    seen += client.exchange([(ATTACKER, "/lua/collect.lua", {})] * 5)
    assert_no_secret(secrets, *seen)
    assert_no_loot(client, secrets, sites)
    # The log is written by whichever request ran the handler: the victim's secrets there mean the
    # attacker's code ran with the victim's host API.
    log = client.server.log()[log_start:]
    for secret in secrets.all:
        assert secret not in log, f"a planted {variant} handler ran in {VICTIM}'s request and logged its secret"


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_spinning_finalizer_does_not_stall_the_worker(plain: RunningServer, h1: Client, variant: str) -> None:
    planted = plant(h1, variant, "spin")
    # Whatever the attacker's own request ran (a __close handler on its error path), its budget held.
    assert planted.elapsed <= WALL_TIME + WATCHDOG_GRACE + SLACK, why(plain, planted)
    with httpx.Client(base_url=plain.url, timeout=10, headers={"Host": VICTIM}) as victim:
        for _ in range(ROUNDS):
            for path, text in ((GARBAGE, "garbage done\n"), (hello_path("lua"), hello_text("lua"))):
                try:
                    r = victim.get(path)
                except httpx.HTTPError as exc:
                    raise AssertionError(f"{VICTIM}{path} after a spinning {variant} handler: {exc!r}") from exc
                took = r.elapsed.total_seconds()
                assert r.status_code == 200 and r.text == text, (path, r.status_code, r.text[:300])
                assert took < VICTIM_LATENCY, f"{VICTIM}{path} took {took:.2f} s after a spinning {variant} handler"
