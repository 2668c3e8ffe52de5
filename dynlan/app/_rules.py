"""Site rules (`[[route]]` in a site's `dynlan.toml` or in the server config): compiled once, matched per request.

A rule names a path (`/x` exactly, or `/x/*` for `/x` and everything below it) and says what happens there:
access checks (`deny`/`allow` by client address, `basic_auth`, `methods`), response header edits (`headers`),
and at most one handler (`redirect`, `rewrite`, `respond` or `proxy`). docs/rules.md is the user's guide; in short:

- Rules are matched on the decoded, normalised path (percent-escapes decoded once, `//` and `.` segments
  collapsed, `..` applied), the same path file routing resolves, so `/adm%69n/x` or `//admin/x` cannot slip past
  a rule on `/admin/*`.
- The rules matching a path, most specific first: exact before prefix, longer prefix before shorter, then the
  order they were written in (a site's own rules before the server's).
- Every matching rule's checks must pass (a more specific rule can add checks, never lift one), in this order:
  client address (403), credentials (401), method (405 with `Allow`; OPTIONS gets 204 with `Allow`).
- The most specific matching rule that has a handler takes the request. A rewrite restarts matching on the new
  path (at most `MAX_REWRITES` times, then 500). No handler: the request goes on to file routing.
- The header edits of every rule that matched along the way apply to whatever answers.

The no-match path is the hot path (every static file of a site with rules takes it): it is a few dict lookups
on the path and its parent folders, and no regular expression.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import bcrypt
import trio

from dynlan.config import ConfigError
from dynlan.http import Headers
from dynlan.proxy import ProxySpec, parse_proxy, upstream_target
from dynlan.ratelimit._policy import RateLimit, parse_rate_limit

if TYPE_CHECKING:
    from dynlan.ratelimit import Decision, RateLimiter

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REWRITES = 10
"""Rewrites one request may go through; one more is a loop (500)."""
PROXIED_PATHS = 1024
"""Paths a site's rules remember as only proxied (emptied when full: every other path is evaluated anew)."""

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
DEFAULT_REDIRECT_STATUS = 307
"""Temporary, and keeps the method and body (a POST stays a POST, RFC 9110 §15.4.8). A permanent redirect is
cached by browsers for good, so it is asked for by writing `status = 308` (or 301)."""

AUTH_CACHE_SECONDS = 60.0
"""How long a successful (user, password) check is remembered, so a browser sending the same header on every
request costs one bcrypt check a minute rather than one per request."""
AUTH_CACHE_ENTRIES = 1024
BCRYPT_THREADS = 2
"""bcrypt checks running at once per worker. One costs ~50-250 ms of CPU (cost 10-12): a flood of wrong passwords
keeps at most this many threads busy, and the event loop keeps serving everything else."""

_KEYS = ("path", "host", "methods", "allow", "deny", "basic_auth", "headers", "redirect", "status", "rewrite", "respond",
         "proxy", "rate_limit")
_HANDLERS = ("redirect", "rewrite", "respond", "proxy")
_PLACEHOLDERS = ("path", "query", "host", "uri")

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""RFC 9110 §5.6.2 token (header names, method names)."""
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]*")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
"""RFC 9110 §5.5: no CR, LF, NUL or other control character (response splitting)."""
_URL_TEXT = re.compile(r"[!-~]*")
"""Printable ASCII without space: what the literal parts of a redirect or rewrite target may hold."""
_TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")
_BCRYPT_HASH = re.compile(r"\$2[abxy]\$(\d\d)\$[./A-Za-z0-9]{53}")
"""`$2b$` (bcrypt), `$2y$` (htpasswd -B, PHP), `$2a$`; the cost, then 22 characters of salt and 31 of hash."""
_HOST = re.compile(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]")
_HOST_PATTERN = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")

# Fields that frame the message or belong to one connection (RFC 9110 §7.6.1, RFC 9112 §6, RFC 9113 §8.2.2): an
# edit of one would make the response read differently by the client than it was sent, or break HTTP/2 and /3.
_FRAMING = frozenset({
    "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection", "upgrade", "te",
    "trailer",
})

# Kept as they are when a decoded path goes back into a URL: RFC 3986 §3.3 pchar and "/"; everything else
# (space, controls, `?`, `#`, `%`, `\`, `"`, non-ASCII) is percent-encoded, so no placeholder can end a header
# line (CRLF injection) or change what the URL points at.
_PATH_SAFE = b"/-._~!$&'()*+,;=:@"
_QUERY_SAFE = _PATH_SAFE + b"?%[]"


def _quote(text: str, safe: bytes) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if (0x30 <= byte <= 0x39) or (0x41 <= byte <= 0x5A) or (0x61 <= byte <= 0x7A) or byte in safe:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def canonical_path(raw: str) -> str | None:
    """The path rules are matched on: decoded once, `//` and `.` collapsed, `..` applied.

    None for a path that is not valid UTF-8 once decoded or holds a NUL (file routing answers 400 for them).
    File routing decodes `%2F` to a slash too (router), so it is decoded here alike; `..` climbing above the
    root stays at the root. The trailing slash is kept: `/docs/` and `/docs` are different URLs.
    """
    if "%" in raw:
        try:
            path = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
    else:
        path = raw
    if "\x00" in path:
        return None
    if "//" not in path and "/." not in path:
        return path
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    last = path.rsplit("/", 1)[-1]
    trailing = path.endswith("/") or last in (".", "..")
    if not segments:
        return "/"
    return "/" + "/".join(segments) + ("/" if trailing else "")


# -- header edits ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    """Response header edits: drop every field named in `remove`, then append `append` in order.

    A rule's `set` is a remove of the name plus an append, so one shape holds every rule's edits and two
    compose into one (`then`).
    """

    remove: frozenset[str] = frozenset()
    """Lower-case names dropped from the response."""
    append: tuple[tuple[str, str], ...] = ()
    """Fields then added (lower-case names)."""

    def apply(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """`headers` with the edits made (a new list)."""
        remove = self.remove
        out = [(name, value) for name, value in headers if name.lower() not in remove]
        out.extend(self.append)
        return out

    def then(self, later: HeaderEdits) -> HeaderEdits:
        """These edits followed by `later`'s, as one."""
        kept = tuple((n, v) for n, v in self.append if n not in later.remove)
        return HeaderEdits(self.remove | later.remove, kept + later.append)

    def __bool__(self) -> bool:
        return bool(self.remove or self.append)


# -- basic auth --------------------------------------------------------------------------------------------------


class _BasicAuth:
    """HTTP Basic authentication (RFC 7617) against bcrypt hashes."""

    __slots__ = ("realm", "users", "challenge", "_decoy", "_key", "_passed")

    def __init__(self, realm: str, users: dict[str, bytes]) -> None:
        self.realm = realm
        self.users = users
        self.challenge = f'Basic realm="{realm}", charset="UTF-8"'
        # An unknown user is checked against a real hash all the same, so the answer takes as long as for a
        # known one: timing does not tell which user names exist.
        self._decoy = next(iter(users.values()))
        self._key = os.urandom(32)
        # HMAC of the credentials -> expiry. Keyed with a per-process secret, so the table holds nothing a
        # password could be recovered from faster than from the bcrypt hash itself.
        self._passed: dict[bytes, float] = {}

    async def check(self, authorization: str | None, limiter: trio.CapacityLimiter) -> bool:
        """True when `authorization` carries the password of one of the users."""
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            raw = base64.b64decode(token.strip(), validate=True)
            user, colon, password = raw.decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return False
        if not colon:
            return False
        # A lookup by an HMAC under a secret key: how long it takes tells nothing about the pairs it holds.
        key = hmac.new(self._key, raw, hashlib.sha256).digest()
        now = time.monotonic()
        expiry = self._passed.get(key)
        if expiry is not None and expiry > now:
            return True
        hashed = self.users.get(user)
        # bcrypt reads at most 72 bytes of a password (what htpasswd and older libraries did silently;
        # bcrypt>=5 refuses longer ones instead).
        secret = password.encode("utf-8")[:72]
        good = await trio.to_thread.run_sync(_checkpw, secret, hashed or self._decoy, limiter=limiter)
        if not (good and hashed is not None):
            return False
        if len(self._passed) >= AUTH_CACHE_ENTRIES:
            self._passed = {k: t for k, t in self._passed.items() if t > now}
            if len(self._passed) >= AUTH_CACHE_ENTRIES:
                self._passed.clear()
        self._passed[key] = now + AUTH_CACHE_SECONDS
        return True


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        return False  # a hash of the right shape the library still refuses (a salt it cannot decode): no match


# -- one rule ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """A redirect or rewrite target: literal text and placeholders, in order."""

    parts: tuple[tuple[bool, str], ...]
    """(is a placeholder, text or placeholder name)."""
    keeps_query: bool
    """No `?`, `{query}` nor `{uri}`: the request's query string is carried over."""
    uses_host: bool
    text: str

    def render(self, rest: str, query: str, host: str, uri: str) -> str:
        out = []
        for placeholder, text in self.parts:
            if not placeholder:
                out.append(text)
            elif text == "path":
                out.append(_quote(rest, _PATH_SAFE))
            elif text == "query":
                out.append(_quote(query, _QUERY_SAFE))
            elif text == "host":
                out.append(host)
            else:
                out.append(uri)
        target = "".join(out)
        if target.endswith("?"):
            target = target[:-1]  # `/x?{query}` with no query
        if self.keeps_query and query:
            target += "?" + _quote(query, _QUERY_SAFE)
        return target


@dataclass(frozen=True, slots=True, eq=False)
class _Rule:
    where: str
    """`FILE: route[N]`, for messages and `describe`."""
    path: str
    """As written."""
    prefix: str | None
    """For `/x/*`: the canonical `/x` (empty for `/*`); None for an exact rule."""
    exact: str
    """For an exact rule: its canonical path."""
    hosts: tuple[str, ...] = ()
    methods: frozenset[str] | None = None
    allow: tuple[IpNetwork, ...] = ()
    deny: tuple[IpNetwork, ...] = ()
    auth: _BasicAuth | None = None
    edits: HeaderEdits | None = None
    redirect: _Template | None = None
    status: int = 0
    rewrite: _Template | None = None
    respond: tuple[int, str, bytes] | None = None
    """(status, content type or "" for none, body)."""
    proxy: ProxySpec | None = None
    """Forward to upstreams (docs/proxy.md)."""
    rate_limit: RateLimit | None = None
    """Requests beyond this rate get 429 (`dynlan.ratelimit`)."""

    @property
    def plain(self) -> bool:
        """Nothing of the request but its path decides what this rule does (no host, address, credential,
        method or rate check)."""
        return not self.hosts and self.methods is None and not self.allow and not self.deny and self.auth is None \
            and self.rate_limit is None

    @property
    def handler(self) -> bool:
        return self.redirect is not None or self.rewrite is not None or self.respond is not None \
            or self.proxy is not None

    def admits(self, client: IpAddress | None) -> bool:
        if client is None:
            return not self.allow
        if any(client in net for net in self.deny):
            return False
        return not self.allow or any(client in net for net in self.allow)

    def takes_host(self, host: str) -> bool:
        for want in self.hosts:
            if want == host or (want.startswith("*.") and host.endswith(want[1:]) and "." not in host[: -len(want) + 1]):
                return True
        return False

    def rest(self, path: str) -> str:
        """The part of `path` the `*` stands for (`{path}`), without its leading slash."""
        if self.prefix is None:
            return path[1:]
        return path[len(self.prefix) + 1 :]

    def describe(self) -> str:
        parts = [self.path]
        if self.hosts:
            parts.append("host " + ",".join(self.hosts))
        if self.deny:
            parts.append("deny " + ",".join(map(str, self.deny)))
        if self.allow:
            parts.append("allow " + ",".join(map(str, self.allow)))
        if self.auth is not None:
            parts.append(f"basic_auth {self.auth.realm!r} ({len(self.auth.users)} users)")
        if self.methods is not None:
            parts.append("methods " + ",".join(sorted(self.methods)))
        if self.edits:
            parts.append("headers " + ",".join(sorted(self.edits.remove | {n for n, _ in self.edits.append})))
        if self.rate_limit is not None:
            limit = self.rate_limit
            parts.append(f"rate_limit {limit.requests}/{limit.per:g}s burst {limit.burst} by {limit.key}"
                         + (f":{limit.key_name}" if limit.key_name else ""))
        if self.redirect is not None:
            parts.append(f"-> redirect {self.status} {self.redirect.text}")
        elif self.rewrite is not None:
            parts.append(f"-> rewrite {self.rewrite.text}")
        elif self.respond is not None:
            parts.append(f"-> respond {self.respond[0]}")
        elif self.proxy is not None:
            parts.append(self.proxy.describe())
        return "  ".join(parts) + f"  ({self.where})"


# -- the answer --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rules make of a request."""

    path: str
    """The path to route (rewritten or the original), percent-encoded like `HttpRequest.path`."""
    status: int = 0
    """0: go on to file routing; else answer now with this status."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    """For an answer now: Location, Allow, WWW-Authenticate, content-type."""
    body: bytes = b""
    """For `respond`."""
    message: str = ""
    """For errors (400, 401, 403, 405, 500 for a rewrite loop): what the error page says. Set exactly when the
    answer is such an error (`is_error`): a `respond` rule's answer has none, whatever its status, and its body
    is the rule's own."""
    edits: HeaderEdits | None = None
    """Response header edits to apply to whatever answers (the rules' answers and error pages included)."""
    query: str = ""
    """The query string to route with: the request's, or the one a rewrite gave."""
    rule: str = ""
    """The rule that answered (`FILE: route[N]`), for logs."""
    proxy: ProxySpec | None = None
    """Forward the request to these upstreams (with `target` as its request target)."""
    target: str = ""
    """For `proxy`: the path and query sent upstream (`strip_prefix` applied)."""
    untouched: bool = False
    """No rule applies to the request's path on its host, whatever else the request carries (its client, its
    fields, its method): what answers it is the request as it came."""

    @property
    def is_error(self) -> bool:
        """An error the site's error page renders (with `headers`: WWW-Authenticate, Allow), not a rule's answer."""
        return bool(self.message)


# -- all rules ---------------------------------------------------------------------------------------------------


class Rules:
    """The compiled rules of one site (its own, then the server's)."""

    __slots__ = ("_rules", "_exact", "_prefix", "_all", "_proxied")

    def __init__(self, rules: Iterable[_Rule] = ()) -> None:
        self._rules = tuple(rules)
        """In written order: the tie-break between rules of equal specificity."""
        exact: dict[str, list[_Rule]] = {}
        prefix: dict[str, list[_Rule]] = {}
        for rule in self._rules:
            if rule.prefix is None:
                exact.setdefault(rule.exact, []).append(rule)
            else:
                prefix.setdefault(rule.prefix, []).append(rule)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._all = self._prefix.get("", ())
        self._proxied: dict[str, tuple[_Rule, str, HeaderEdits | None]] = {}
        """Paths whose rules only proxy them (nothing checked of the request but its path): the rule, the path
        sent upstream and the header edits, so that the next request for one skips the evaluation."""

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def then(self, other: Rules) -> Rules:
        """These rules, then `other`'s at equal specificity (a site's own rules, then the server's)."""
        if not other:
            return self
        if not self:
            return other
        return Rules((*self._rules, *other._rules))

    def proxies(self) -> list[ProxySpec]:
        """The `proxy` tables of these rules (the upstream groups a configuration runs)."""
        return [rule.proxy for rule in self._rules if rule.proxy is not None]

    def describe(self) -> list[str]:
        """One line per rule, in evaluation order: exact paths, then prefixes longest first (ties: written order)."""
        exact = sorted(self._exact.items())
        prefix = sorted(self._prefix.items(), key=lambda item: (-len(item[0]), item[0]))
        return [rule.describe() for _, group in (*exact, *prefix) for rule in group]

    def match(self, path: str) -> list[_Rule]:
        """The rules whose path matches the canonical `path`, most specific first (hosts not checked)."""
        found: list[_Rule] = []
        group = self._exact.get(path)
        if group is not None:
            found.extend(group)
        prefixes = self._prefix
        if prefixes:
            at = len(path) - 1 if path.endswith("/") else len(path)
            while at > 0:
                group = prefixes.get(path[:at])
                if group is not None:
                    found.extend(group)
                at = path.rfind("/", 0, at)
            if self._all:
                found.extend(self._all)
        return found

    async def evaluate(self, method: str, path: str, query: str, host: str, client: str, headers: Headers,
                       limiter: RateLimiter | None = None, site: str = "") -> Outcome:
        """What the rules make of a request (see the module's docstring for the order).

        `limiter` counts the requests of rules with a `rate_limit`, in `site`'s buckets (None: not counted).
        """
        proxied = self._proxied.get(path)
        if proxied is not None:
            return _proxied_outcome(path, query, *proxied)
        original_path, original_query = path, query
        edits: HeaderEdits | None = None
        rewrites = 0
        counted: set[int] = set()
        while True:
            if not path.startswith("/"):
                return Outcome(path, edits=edits, query=query)  # `OPTIONS *`: not a path rules can name
            canonical = canonical_path(path)
            if canonical is None:
                return Outcome(path, 400, message="path is not valid UTF-8", edits=edits, query=query)
            matched = self.match(canonical)
            if not matched:
                return Outcome(path, edits=edits, query=query, untouched=rewrites == 0)
            if any(rule.hosts for rule in matched):
                name = _host_name(host)
                matched = [rule for rule in matched if not rule.hosts or rule.takes_host(name)]
                if not matched:
                    return Outcome(path, edits=edits, query=query, untouched=rewrites == 0)
            for rule in reversed(matched):
                if rule.edits is not None:
                    edits = rule.edits if edits is None else edits.then(rule.edits)
            answer = self._check_address(matched, path, query, client, edits)
            if answer is None and limiter is not None and any(rule.rate_limit is not None for rule in matched):
                answer, edits = await self._limit(matched, path, query, client, headers, edits, limiter, site, counted)
            if answer is None:
                answer = await self._check(matched, method, path, query, headers, edits)
            if answer is not None:
                return answer
            for rule in matched:
                if rule.handler:
                    break
            else:
                return Outcome(path, edits=edits, query=query)
            rest = rule.rest(canonical)
            if rule.respond is not None:
                status, content_type, body = rule.respond
                head = [("content-type", content_type)] if content_type else []
                return Outcome(path, status, head, body, edits=edits, query=query, rule=rule.where)
            if rule.proxy is not None:
                written = upstream_target(path, canonical, rule.prefix, rule.proxy.strip_prefix, "")
                if rewrites == 0 and all(r.plain for r in matched):
                    if len(self._proxied) >= PROXIED_PATHS:
                        self._proxied.clear()
                    self._proxied[path] = (rule, written, edits)
                return _proxied_outcome(path, query, rule, written, edits)
            uri = _quote(original_path, _QUERY_SAFE) + ("?" + _quote(original_query, _QUERY_SAFE) if original_query else "")
            template = rule.redirect or rule.rewrite
            assert template is not None
            name = _host_name(host)
            if template.uses_host and not _HOST.fullmatch(name):
                # `{host}` goes into a URL as it is: it must be a host name, not `evil.example/x` or a CRLF.
                return Outcome(path, 400, message="the Host header is not a host name", edits=edits, query=query)
            if rule.redirect is not None:
                location = rule.redirect.render(rest, query, name, uri)
                if location.startswith("//"):
                    # A placeholder that brings a leading slash (`/{query}` with `/evil.example`) must not turn
                    # a local redirect into one to another host (open redirect).
                    location = "/" + location.lstrip("/")
                return Outcome(path, rule.status, [("location", location)], edits=edits, query=query, rule=rule.where)
            rewrites += 1
            if rewrites > MAX_REWRITES:
                # The message goes to the client's error page: the rule (with the config file's path) goes to
                # the log only, through `rule`.
                return Outcome(original_path, 500, message=f"more than {MAX_REWRITES} rewrites (a rewrite loop)",
                               edits=edits, query=original_query, rule=rule.where)
            target = template.render(rest, query, name, uri)
            path, _, query = target.partition("?")

    @staticmethod
    def _check_address(matched: list[_Rule], path: str, query: str, client: str,
                       edits: HeaderEdits | None) -> Outcome | None:
        """The address checks of every matching rule: the 403 refusing the request, or None."""
        if any(rule.allow or rule.deny for rule in matched):
            address = _ip(client)
            for rule in matched:
                if not rule.admits(address):
                    return Outcome(path, 403, message="access from this address is not allowed", edits=edits,
                                   query=query, rule=rule.where)
        return None

    @staticmethod
    async def _limit(matched: list[_Rule], path: str, query: str, client: str, headers: Headers,
                     edits: HeaderEdits | None, limiter: RateLimiter, site: str,
                     counted: set[int]) -> tuple[Outcome | None, HeaderEdits | None]:
        """Count the request against every matching rule's rate limit (once per rule, whatever rewrites follow).

        Before the credentials are checked: guesses at a password are requests like any other. Over a limit:
        429 with `Retry-After` (RFC 6585 §4) and the RateLimit fields; under it, the fields of the limit with
        the fewest requests left go on the response (draft-ietf-httpapi-ratelimit-headers-09 §4, §5).
        """
        from dynlan.ratelimit import RateLimitUnavailable

        tightest: tuple[RateLimit, Decision] | None = None
        for rule in matched:
            limit = rule.rate_limit
            if limit is None or id(rule) in counted:
                continue
            counted.add(id(rule))
            bucket = limit.bucket(client, rule.path, headers, _cookies(headers) if limit.key == "cookie" else {})
            try:
                decision = await limiter.check(limit, site, bucket)
            except RateLimitUnavailable as exc:
                return Outcome(path, 503, message=str(exc), edits=edits, query=query, rule=rule.where), edits
            if decision is None:
                continue
            if not decision.allowed:
                retry = max(1, math.ceil(decision.retry_after))
                fields = [("retry-after", str(retry)), *_rate_fields(limit, decision)]
                return Outcome(path, 429, fields, message="too many requests; try again later", edits=edits,
                               query=query, rule=rule.where), edits
            if tightest is None or decision.remaining < tightest[1].remaining:
                tightest = (limit, decision)
        if tightest is not None:
            added = HeaderEdits(frozenset({"ratelimit", "ratelimit-policy"}), tuple(_rate_fields(*tightest)))
            edits = added if edits is None else edits.then(added)
        return None, edits

    async def _check(self, matched: list[_Rule], method: str, path: str, query: str,
                     headers: Headers, edits: HeaderEdits | None) -> Outcome | None:
        """The credential and method checks of every matching rule: the answer refusing the request, or None."""
        for rule in matched:
            if rule.auth is not None and not await rule.auth.check(headers.get("authorization"), _bcrypt_limiter()):
                return Outcome(path, 401, [("www-authenticate", rule.auth.challenge)],
                               message="authentication required", edits=edits, query=query, rule=rule.where)
        allowed: frozenset[str] | None = None
        for rule in matched:
            if rule.methods is not None:
                allowed = rule.methods if allowed is None else allowed & rule.methods
        if allowed is not None and method not in allowed:
            # RFC 9110 §15.5.6: a 405 carries Allow; §9.3.7: OPTIONS asks what is allowed.
            allow = ", ".join(sorted(allowed | {"OPTIONS"}))
            if method == "OPTIONS":
                return Outcome(path, 204, [("allow", allow)], edits=edits, query=query)
            return Outcome(path, 405, [("allow", allow)], message=f"{method} is not allowed here", edits=edits,
                           query=query, rule=next(r.where for r in matched if r.methods is not None and method not in r.methods))
        return None


def _proxied_outcome(path: str, query: str, rule: _Rule, written: str, edits: HeaderEdits | None) -> Outcome:
    """A `proxy` rule's outcome: `written` (the upstream path, `upstream_target`) with the request's query."""
    return Outcome(path, edits=edits, query=query, rule=rule.where, proxy=rule.proxy,
                   target=written + "?" + query if query else written)


_limiter: list[trio.CapacityLimiter] = []


def _bcrypt_limiter() -> trio.CapacityLimiter:
    """One for the worker process, whatever the number of sites and rules (and reloads)."""
    if not _limiter:
        _limiter.append(trio.CapacityLimiter(BCRYPT_THREADS))
    return _limiter[0]


def _rate_fields(limit: RateLimit, decision: Decision) -> list[tuple[str, str]]:
    """`RateLimit` (remaining `r`, seconds to reset `t`) and `RateLimit-Policy` for one limit."""
    reset = max(0, math.ceil(decision.reset))
    return [("ratelimit", f'"{limit.name}";r={decision.remaining};t={reset}'),
            ("ratelimit-policy", limit.policy_header())]


def _cookies(headers: Headers) -> dict[str, str]:
    jar: dict[str, str] = {}
    for line in headers.get_all("cookie"):
        for part in line.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in jar:
                jar[name] = value.strip('"')
    return jar


def _host_name(host: str) -> str:
    """The Host header's name, lower-case, without its port."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0]


def _ip(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # `::ffff:10.0.0.1` is 10.0.0.1, for `allow = ["10.0.0.0/8"]`
    return address


# -- compiling ---------------------------------------------------------------------------------------------------


def compile_rules(entries: list[dict[str, Any]], source: str, rate_limit: dict[str, Any] | None = None,
                  outbound: tuple[str, ...] | None = None) -> Rules:
    """The rules of a config file's `[[route]]` tables, and of its top-level `rate_limit` (a rule on `/*` that only
    limits); ConfigError naming the file and key on any problem. `outbound`: a site's own file, whose `proxy`
    upstreams the server's `[outbound] allow` bounds (`ProxySpec.allow`); None: the server's config."""
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: route: expected an array of tables ([[route]])")
    rules = [_compile_rule(entry, f"{source}: route[{i}]", outbound) for i, entry in enumerate(entries)]
    if rate_limit:
        where = f"{source}: rate_limit"
        rules.append(_Rule(where, "/*", "", "", rate_limit=parse_rate_limit(rate_limit, where, "/*")))
    return Rules(rules)


def _compile_rule(entry: Any, where: str, outbound: tuple[str, ...] | None = None) -> _Rule:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    for key in entry:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key '{key}' (known: {', '.join(_KEYS)})")
    if "path" not in entry:
        raise ConfigError(f"{where}: no path (path = \"/x\" for one URL, \"/x/*\" for a folder)")
    written = _string(entry["path"], f"{where}.path")
    exact, prefix = _rule_path(written, f"{where}.path")
    handlers = [key for key in _HANDLERS if key in entry]
    if len(handlers) > 1:
        raise ConfigError(f"{where}: {' and '.join(handlers)} in one rule; a rule has at most one handler")
    if "status" in entry and "redirect" not in entry:
        raise ConfigError(f"{where}.status: only a redirect has a status (respond has its own: respond.status)")
    if not handlers and not any(k in entry for k in ("methods", "allow", "deny", "basic_auth", "headers", "rate_limit")):
        raise ConfigError(f"{where}: the rule does nothing (give it a handler, a check or headers)")
    kwargs: dict[str, Any] = {}
    if "host" in entry:
        kwargs["hosts"] = _hosts(entry["host"], f"{where}.host")
    if "methods" in entry:
        kwargs["methods"] = _methods(entry["methods"], f"{where}.methods")
    for key in ("allow", "deny"):
        if key in entry:
            kwargs[key] = tuple(parse_networks(entry[key], f"{where}.{key}"))
    if "basic_auth" in entry:
        kwargs["auth"] = _basic_auth(entry["basic_auth"], f"{where}.basic_auth")
    if "headers" in entry:
        kwargs["edits"] = _header_edits(entry["headers"], f"{where}.headers")
    if "redirect" in entry:
        kwargs["redirect"] = _template(entry["redirect"], f"{where}.redirect", absolute=True)
        status = entry.get("status", DEFAULT_REDIRECT_STATUS)
        if not isinstance(status, int) or isinstance(status, bool) or status not in REDIRECT_STATUSES:
            raise ConfigError(f"{where}.status: a redirect's status is one of "
                              f"{', '.join(map(str, REDIRECT_STATUSES))}, got {status!r}")
        kwargs["status"] = status
    if "rewrite" in entry:
        kwargs["rewrite"] = _template(entry["rewrite"], f"{where}.rewrite", absolute=False)
    if "respond" in entry:
        kwargs["respond"] = _respond(entry["respond"], f"{where}.respond")
    if "proxy" in entry:
        kwargs["proxy"] = parse_proxy(entry["proxy"], f"{where}.proxy", outbound)
    if "rate_limit" in entry:
        kwargs["rate_limit"] = parse_rate_limit(entry["rate_limit"], f"{where}.rate_limit", written)
    return _Rule(where, written, prefix, exact, **kwargs)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a string or a non-empty list of strings, got {value!r}")
    return [_string(v, f"{where}[{i}]") for i, v in enumerate(value)]


def _rule_path(written: str, where: str) -> tuple[str, str | None]:
    """(canonical exact path, None) or ("", canonical prefix) of a rule's `path`."""
    if not written.startswith("/"):
        raise ConfigError(f"{where}: {written!r} does not start with '/'")
    if any(c in written for c in "?#") or not written.isprintable():
        raise ConfigError(f"{where}: {written!r}: a path has no '?', '#' or control characters")
    body, star = (written[:-1], True) if written.endswith("/*") else (written, False)
    if "*" in body:
        raise ConfigError(f"{where}: {written!r}: '*' only ends a path, after '/' (\"/x/*\")")
    canonical = canonical_path(body)
    if canonical is None:
        raise ConfigError(f"{where}: {written!r}: not valid UTF-8 once percent-decoded")
    if canonical != unquote(body):
        raise ConfigError(f"{where}: {written!r}: no empty, '.' or '..' segments")
    if star:
        return "", canonical.rstrip("/")
    return canonical, None


def _hosts(value: Any, where: str) -> tuple[str, ...]:
    hosts = []
    for i, host in enumerate(_strings(value, where)):
        name = host.lower()
        if not _HOST_PATTERN.fullmatch(name):
            raise ConfigError(f"{where}[{i}]: {host!r} is not a host name (or *.name for one more label)")
        hosts.append(name)
    return tuple(hosts)


def _methods(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a non-empty list of method names, got {value!r}")
    methods = set()
    for i, method in enumerate(value):
        method = _string(method, f"{where}[{i}]")
        if not _METHOD.fullmatch(method):
            # RFC 9110 §9.1: method names are case-sensitive; every standard one is upper-case.
            raise ConfigError(f"{where}[{i}]: {method!r} is not a method name (upper-case, as GET or POST)")
        methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")  # RFC 9110 §9.3.2: HEAD is GET without the body
    return frozenset(methods)


def parse_networks(value: Any, where: str) -> list[IpNetwork]:
    """A list of addresses and CIDR blocks (`"10.0.0.0/8"`, `"::1"`) as networks; ConfigError naming `where`."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of addresses or CIDR blocks, got {value!r}")
    networks: list[IpNetwork] = []
    for i, item in enumerate(value):
        text = _string(item, f"{where}[{i}]")
        try:
            network = ipaddress.ip_network(text.strip(), strict=True)
        except ValueError as exc:
            raise ConfigError(f"{where}[{i}]: {text!r} is not an address or CIDR block ({exc})") from None
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None \
                and network.prefixlen >= 96:
            # Clients are compared as IPv4 once unmapped (`_ip`): a mapped block is its IPv4 block.
            network = ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
        networks.append(network)
    return networks


def _basic_auth(value: Any, where: str) -> _BasicAuth:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table {{ realm = \"...\", users = {{ name = \"$2b$...\" }} }}")
    for key in value:
        if key not in ("realm", "users"):
            raise ConfigError(f"{where}: unknown key '{key}' (known: realm, users)")
    realm = _string(value.get("realm", "restricted"), f"{where}.realm")
    if not realm or not realm.isprintable() or '"' in realm or "\\" in realm:
        raise ConfigError(f"{where}.realm: {realm!r}: a realm is printable text without '\"' or '\\'")
    users = value.get("users")
    if not isinstance(users, dict) or not users:
        raise ConfigError(f"{where}.users: expected a table of user names and bcrypt hashes, got {users!r}")
    hashes: dict[str, bytes] = {}
    for name, hashed in users.items():
        if not name or ":" in name or not name.isprintable():
            # RFC 7617 §2: the user-id cannot contain a colon.
            raise ConfigError(f"{where}.users.{name}: a user name is printable text without ':'")
        hashed = _string(hashed, f"{where}.users.{name}")
        found = _BCRYPT_HASH.fullmatch(hashed)
        if found is None or not 4 <= int(found.group(1)) <= 31:
            raise ConfigError(f"{where}.users.{name}: not a bcrypt hash ($2b$12$ and 53 characters; "
                              f"make one with `htpasswd -nbB user password` or Python's bcrypt.hashpw)")
        hashes[name] = hashed.encode("ascii")
    return _BasicAuth(realm, hashes)


def _header_edits(value: Any, where: str) -> HeaderEdits:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table {{ set = {{...}}, add = {{...}}, remove = [...] }}")
    for key in value:
        if key not in ("set", "add", "remove"):
            raise ConfigError(f"{where}: unknown key '{key}' (known: set, add, remove)")
    remove: set[str] = set()
    append: list[tuple[str, str]] = []
    for i, name in enumerate(_list(value.get("remove", []), f"{where}.remove")):
        remove.add(_field_name(_string(name, f"{where}.remove[{i}]"), f"{where}.remove[{i}]"))
    for op in ("set", "add"):
        table = value.get(op, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}.{op}: expected a table of header names and values, got {table!r}")
        for name, field_value in table.items():
            lower = _field_name(name, f"{where}.{op}.{name}")
            values = [field_value] if isinstance(field_value, str) else field_value
            if not isinstance(values, list) or not values or (op == "set" and len(values) != 1):
                raise ConfigError(f"{where}.{op}.{name}: expected a string{' or a list of strings' if op == 'add' else ''}")
            for v in values:
                v = _string(v, f"{where}.{op}.{name}")
                if not _FIELD_VALUE.fullmatch(v):
                    raise ConfigError(f"{where}.{op}.{name}: a header value has no control characters (CR, LF, NUL)")
                append.append((lower, v))
            if op == "set":
                remove.add(lower)
    return HeaderEdits(frozenset(remove), tuple(append))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return value


def _field_name(name: str, where: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not a header name (RFC 9110 §5.6.2)")
    lower = name.lower()
    if lower in _FRAMING:
        raise ConfigError(f"{where}: {lower} frames the message; the server sets it")
    return lower


def _template(value: Any, where: str, *, absolute: bool) -> _Template:
    text = _string(value, where)
    if not text:
        raise ConfigError(f"{where}: no target")
    parts: list[tuple[bool, str]] = []
    at = 0
    for found in _TEMPLATE_PART.finditer(text):
        parts.append((False, text[at : found.start()]))
        name = found.group(1)
        if name not in _PLACEHOLDERS:
            raise ConfigError(f"{where}: unknown placeholder {{{name}}} (known: "
                              f"{', '.join('{' + p + '}' for p in _PLACEHOLDERS)})")
        parts.append((True, name))
        at = found.end()
    parts.append((False, text[at:]))
    for placeholder, literal in parts:
        if not placeholder and (not _URL_TEXT.fullmatch(literal) or "\\" in literal or "{" in literal or "}" in literal):
            raise ConfigError(f"{where}: {text!r}: a target is a URL (printable ASCII, no spaces or '\\'; "
                              f"percent-encode the rest)")
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        if not absolute:
            raise ConfigError(f"{where}: {text!r}: a rewrite target is a path of this site (\"/x\"); redirect to leave it")
        authority = re.split(r"[/?#]", text.split("://", 1)[1], maxsplit=1)[0]
        # Only the host the client asked for may fill in the authority: `https://{path}` would let any link
        # send visitors to a host of the attacker's choosing (open redirect).
        if not authority or any(name != "host" for name in _TEMPLATE_PART.findall(authority)):
            raise ConfigError(f"{where}: {text!r}: the host of a redirect is written out or {{host}}")
    if "#" in text and not absolute:
        raise ConfigError(f"{where}: {text!r}: a rewrite target has no fragment ('#')")
    if not lowered.startswith(("http://", "https://")) and (not text.startswith("/") or text.startswith("//")):
        kind = "a path (\"/x\") or an http(s) URL" if absolute else "a path (\"/x\")"
        raise ConfigError(f"{where}: {text!r}: a target is {kind}")
    names = {name for placeholder, name in parts if placeholder}
    # A target with a fragment keeps it last: the request's query is not appended after it.
    keeps_query = "?" not in text and "#" not in text and not names & {"query", "uri"}
    return _Template(tuple(p for p in parts if p[0] or p[1]), keeps_query, "host" in names, text)


def _respond(value: Any, where: str) -> tuple[int, str, bytes]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table {{ status = 200, body = \"...\", content_type = \"...\" }}")
    for key in value:
        if key not in ("status", "body", "content_type"):
            raise ConfigError(f"{where}: unknown key '{key}' (known: status, body, content_type)")
    status = value.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
        raise ConfigError(f"{where}.status: a final status, 200 to 599, got {status!r}")
    body = _string(value.get("body", ""), f"{where}.body")
    if body and (status in (204, 205, 304)):
        # RFC 9110 §15.3.5, §15.3.6, §15.4.5: these responses have no content.
        raise ConfigError(f"{where}.body: a {status} response has no body")
    content_type = _string(value.get("content_type", "text/plain; charset=utf-8"), f"{where}.content_type")
    if not content_type or not _FIELD_VALUE.fullmatch(content_type) or "\t" in content_type:
        raise ConfigError(f"{where}.content_type: {content_type!r} is not a header value")
    if status in (204, 205, 304) and "content_type" not in value:
        content_type = ""  # no content, so no type of it
    return status, content_type, body.encode("utf-8")


# -- the client's address behind proxies -------------------------------------------------------------------------


def client_address(peer: str, headers: Headers, trusted: list[IpNetwork]) -> str:
    """The client's address: `peer`, or what a trusted proxy says it forwarded for.

    Only when `peer` is in `trusted` are `X-Forwarded-For` (what nearly every proxy sets; used when present)
    or `Forwarded` (RFC 7239) read, right to left: each hop added by a trusted proxy is skipped, and the first
    address a trusted proxy got from elsewhere is the client. Anything left of it was written by the client and
    is not believed (a spoofed `X-Forwarded-For: 127.0.0.1` from the internet must not pass `allow`). A header
    that cannot be read leaves the peer.
    """
    if not trusted:
        return peer
    address = _ip(peer)
    if address is None or not any(address in net for net in trusted):
        return peer
    forwarded_for = headers.get_all("x-forwarded-for")
    if forwarded_for:
        hops = [hop.strip() for line in forwarded_for for hop in line.split(",")]
    else:
        lines = headers.get_all("forwarded")
        if not lines:
            return peer
        parsed = _forwarded_for(lines)
        if parsed is None:
            return peer
        hops = parsed
    found = address
    for hop in reversed(hops):
        hop_address = _ip(_strip_port(hop))
        if hop_address is None:
            return peer
        found = hop_address
        if not any(hop_address in net for net in trusted):
            break
    return str(found)


def _strip_port(hop: str) -> str:
    """An address without brackets or port (`[::1]:80`, `10.0.0.1:80`)."""
    if hop.startswith("["):
        end = hop.find("]")
        return hop[1:end] if end > 0 else hop
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def _forwarded_for(lines: list[str]) -> list[str] | None:
    """The `for=` node of each element of `Forwarded` (RFC 7239 §4), or None when one has none or is malformed."""
    hops = []
    for line in lines:
        for element in line.split(","):
            node = None
            for pair in element.split(";"):
                name, eq, value = pair.strip().partition("=")
                if not eq:
                    return None
                if name.strip().lower() == "for":
                    value = value.strip()
                    if value.startswith('"'):
                        if len(value) < 2 or not value.endswith('"'):
                            return None
                        value = value[1:-1]
                    node = value
            if node is None:
                return None
            hops.append(node)
    return hops


__all__ = [
    "HeaderEdits",
    "MAX_REWRITES",
    "Outcome",
    "Rules",
    "canonical_path",
    "client_address",
    "compile_rules",
    "parse_networks",
]
