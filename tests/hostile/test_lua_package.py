"""Lua's `package`, `require`, `io` and `debug` (what pure-Lua libraries expect): the attacker aims
`package.path` and `package.searchpath` at the victim's files (relative, absolute, through a link it
planted) and poisons every table it can reach, the host API's own (`cache.get`, `http.request`, ...)
included; the victim's page, run on the same VM after it, sees the tables as they were, and the
attacker finds nothing of the victim's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile._support import ATTACKER, VICTIM, Client, Secrets, assert_no_secret, why

pytestmark = pytest.mark.e2e


def test_package_reaches_no_file_outside_the_site(h1: Client, sites: Path, secrets: Secrets) -> None:
    r = h1.get(ATTACKER, f"/lua/pkg.lua?root={sites}")
    assert r.status == 200, why(h1.server, r)
    assert_no_secret(secrets, r)
    assert r.text.splitlines() == [
        "relative false nil",
        "deeper false nil",
        "absolute false nil",
        "link false nil",
        "victim page false nil",
        "dots false nil",
        "rawset io false",
        "assign stdout false",
        "assign debug false",
        "getmetatable loaded false",
        "swapped ",
    ], r.text
    victim = h1.get(VICTIM, "/lua/pkgcheck.lua")
    assert victim.status == 200, why(h1.server, victim)
    assert victim.text == ("table table nil _lib/?.lua;_lib/?/init.lua true nil "
                           "function function [1] function function function function"), victim.text
