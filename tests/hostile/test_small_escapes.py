"""Class 10: smaller escapes. `string.dump` is out of reach (also through the string metatable);
a page's own coroutines work; seeding a random generator in one request does not make another
site's random numbers predictable.
"""

from __future__ import annotations

import pytest

from tests.hostile._support import ATTACKER, VICTIM, Client, page, why

pytestmark = pytest.mark.e2e


def test_string_dump_is_out_of_reach(h1: Client) -> None:
    r = h1.get(ATTACKER, "/lua/dump.lua")
    assert r.status == 200, why(h1.server, r)
    lines = r.text.splitlines()
    assert len(lines) == 4, r.text
    reachable = [line for line in lines if line.endswith(" function")]
    assert not reachable, f"string.dump is reachable: {reachable}"


def test_coroutines_work(h1: Client) -> None:
    r = h1.get(ATTACKER, "/lua/coro.lua")
    assert r.status == 200, why(h1.server, r)
    assert r.text == "true\t2\ttrue\t20\tdead\t1\t2\t3\na.test ok\n", r.text


@pytest.mark.parametrize("runtime", ["lua", "python", "php"])
def test_a_seed_set_by_the_attacker_does_not_reach_the_victim(h1: Client, runtime: str) -> None:
    seeded = h1.get(ATTACKER, page(runtime, "seed"))
    assert seeded.status == 200, why(h1.server, seeded)
    sequence = [int(n) for n in seeded.text.split()]
    assert len(sequence) == 20, seeded.text
    pairs = {(a, b) for a, b in zip(sequence, sequence[1:], strict=False)}
    for _ in range(3):
        r = h1.get(VICTIM, page(runtime, "random"))
        assert r.status == 200, why(h1.server, r)
        first, second = (int(n) for n in r.text.split())
        assert (first, second) not in pairs, (f"{VICTIM}'s random numbers {first} {second} are the attacker's "
                                              f"seed-1 sequence: {sequence}")
