"""Class 3: a Wren page cannot reach another request through state the VM shares.

The victim's page reads its secret file and its session cookie, then waits on I/O (its fiber is
suspended). Meanwhile the attacker's page looks for it through the prelude's statics
(`Host.waiting`), other pages' modules (`Meta.getModuleVariables("page#N")`) and the victim's site
modules (`import` through `Meta.compile`), and resumes whatever fiber it finds inside its own
request. The victim must get its own complete answer; the attacker must see none of it.
"""

from __future__ import annotations

import secrets as random
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.hostile._support import (
    ATTACKER,
    VICTIM,
    Answer,
    Client,
    Secrets,
    assert_no_loot,
    assert_no_secret,
    hello_path,
    hello_text,
    wait_log,
    why,
)

pytestmark = pytest.mark.e2e


def test_attacker_cannot_take_a_waiting_request(client: Client, secrets: Secrets, sites: Path) -> None:
    # The victim's site module holds the secret in a static (shared by b.test's requests only).
    kept = client.get(VICTIM, "/wren/remember.wren")
    assert kept.status == 200 and kept.text == "kept\n", why(client.server, kept)
    tag = f"fiber-{random.token_hex(4)}"
    attacker: list[Answer | BaseException] = []

    def attack() -> None:
        try:
            attacker.append(client.get(ATTACKER, f"/wren/fiber.wren?tag={tag}&victim={quote(str(sites / VICTIM))}",
                                       timeout=30))
        except Exception as exc:  # reported below
            attacker.append(exc)

    thread = threading.Thread(target=attack)
    thread.start()
    try:
        wait_log(client.server, tag)
        victim = client.get(VICTIM, "/wren/wait.wren", headers=secrets.cookie_header, timeout=30)
    finally:
        thread.join(60)
    assert victim.status == 200 and victim.text == f"victim {secrets.file} session={secrets.cookie}\n", (
        f"the victim's waiting request was disturbed: {why(client.server, victim)}")
    (got,) = attacker
    assert isinstance(got, Answer), f"the attacker's request failed: {got!r}"
    assert got.status == 200, why(client.server, got)
    assert_no_secret(secrets, got)
    assert "resumed a fiber" not in got.text, f"the attacker got hold of another request's fiber:\n{got.text}"
    assert "seen-module" not in got.text, f"the attacker saw another page's module:\n{got.text}"
    # Requests made after the attack: the victim's pages and the VM are fine.
    hello = client.get(VICTIM, hello_path("wren"))
    assert hello.status == 200 and hello.text == hello_text("wren"), why(client.server, hello)
    again = client.get(VICTIM, "/wren/wait.wren", headers=secrets.cookie_header, timeout=30)
    assert again.status == 200 and again.text == f"victim {secrets.file} session={secrets.cookie}\n", why(
        client.server, again)
    assert_no_loot(client, secrets, sites)
