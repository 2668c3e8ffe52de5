"""Class 5: the page cache is one namespace per site.

The victim keeps its secret and a counter in its cache; the attacker, in every language and over
every protocol, reads, overwrites, deletes and counts up entries of the same names (and names that
might reach into the victim's namespace). Afterwards the victim reads its values back unchanged,
and the attacker never saw the secret.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile._support import (
    ATTACKER,
    RUNTIMES,
    VICTIM,
    Client,
    Secrets,
    assert_no_loot,
    assert_no_secret,
    page,
    why,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_attacker_cannot_read_or_change_the_victims_cache(client: Client, runtime: str, secrets: Secrets,
                                                         sites: Path) -> None:
    stored = client.get(VICTIM, page(runtime, "stash"))
    assert stored.status == 200 and stored.text == "stored\n", why(client.server, stored)
    for op in ("set", "delete", "incr"):
        raid = client.get(ATTACKER, page(runtime, "raid") + f"?op={op}")
        assert raid.status == 200, why(client.server, raid)
        assert_no_secret(secrets, raid)
        # A request made after the attack: the victim's values are as it left them.
        check = client.get(VICTIM, page(runtime, "check"))
        assert check.status == 200, why(client.server, check)
        assert check.text == "secret=same counter=same\n", f"after the attacker's cache {op} in {runtime}: {check.text}"
    assert_no_loot(client, secrets, sites)
