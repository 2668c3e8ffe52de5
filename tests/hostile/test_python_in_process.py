"""Class 6, in-process Python (the default, for trusted code): builtins one site's page changes are
not seen by another site's pages.

In-process Python shares the server's interpreter and is not a boundary against hostile code: the
`builtins` module itself, like every imported module, is shared (docs/python.md, "Two modes").
What is promised is that each request has its own copy of the builtins, so a site that replaces
`print` or `open` does not change what another site's pages call by those names, and a spy so
planted records nothing of another site's request.
"""

from __future__ import annotations

import json
import secrets as random
from pathlib import Path

import pytest

from tests.hostile._support import ATTACKER, CONFIG, VICTIM, Client, Secrets, files_holding, why

pytestmark = pytest.mark.e2e

OWN_BUILTINS = {"print": "builtin_function_or_method", "open": "builtin_function_or_method", "mark": "False"}


@pytest.fixture(scope="module")
def server_config() -> str:
    return CONFIG.replace('sandbox = "process"', 'sandbox = "none"')


def test_builtins_changed_by_one_site_are_not_seen_by_another(h1: Client, secrets: Secrets, sites: Path) -> None:
    r = h1.get(ATTACKER, "/python/patch.py")
    assert r.status == 200 and r.text == "patched\n", why(h1.server, r)
    tag = f"victim-{random.token_hex(4)}"
    token = json.dumps({"tag": tag, "session": secrets.cookie, "secret": secrets.file})
    victim = h1.get(VICTIM, f"/python/victim.py?tag={tag}", headers=secrets.cookie_header)
    assert victim.status == 200 and victim.text == f"victim ok {len(token)}\n", why(h1.server, victim)
    probe = h1.get(VICTIM, "/python/probe.py")
    assert probe.status == 200, why(h1.server, probe)
    facts = dict(line.split("=", 1) for line in probe.text.splitlines())
    own = {name: facts.get(name) for name in OWN_BUILTINS}
    assert own == OWN_BUILTINS, f"{VICTIM}'s page runs with the builtins {ATTACKER} patched:\n{probe.text}"
    # The spies write what they see into the attacker's own site: nothing of the victim's request.
    leaked = files_holding(sites / ATTACKER, [*secrets.all, tag])
    assert not leaked, f"the attacker's patched builtins recorded the victim's request: {leaked}"
