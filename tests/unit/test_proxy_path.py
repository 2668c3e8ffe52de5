"""The request target sent upstream (`upstream_target`)."""

from __future__ import annotations

import pytest

from dynlan.app._rules import canonical_path
from dynlan.proxy import upstream_target


@pytest.mark.parametrize(("path", "prefix", "strip", "query", "sent"), [
    ("/api/v1/items", "/api", False, "", "/api/v1/items"),
    ("/api/v1/items", "/api", True, "a=1&b", "/v1/items?a=1&b"),
    ("/api", "/api", True, "", "/"),
    ("/api/", "/api", True, "", "/"),
    ("/a%70i/x", "/api", True, "", "/x"),  # the prefix as written differs from the rule's: cut all the same
    ("/api/a%2Fb", "/api", True, "", "/a%2Fb"),  # an escape the upstream may care about stays as written
    ("/api/caf%C3%A9", "/api", False, "", "/api/caf%C3%A9"),
    ("/api/x/./y//z", "/api", False, "", "/api/x/y/z"),  # not as written: as the rules saw it
    ("/api/x/../y", "/api", True, "", "/y"),
    ("/api/a%20b/../c d", "/api", False, "", "/api/c%20d"),
    ("/anything", "", True, "", "/anything"),  # `/*`: nothing to cut
    ("/exact", None, True, "q", "/?q"),  # an exact rule's whole path is the prefix
    ("/exact", None, False, "", "/exact"),
])
def test_upstream_target(path: str, prefix: str | None, strip: bool, query: str, sent: str) -> None:
    canonical = canonical_path(path)
    assert canonical is not None
    assert upstream_target(path, canonical, prefix, strip, query) == sent
