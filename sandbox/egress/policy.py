"""What a run's http.allow lets through, and what the proxy adds on the way.

Host patterns: an exact name (case-insensitive, trailing dot ignored, IDN as punycode),
`*.example.com` for its subdomains (never example.com itself), or `*` for any public
host. Address literals are never names, in any spelling (`127.1`, `0x7f000001`,
`2130706433`, `[::1]`). Each rule may carry one credential, which the proxy sets on
every request to a host the rule matches, replacing whatever the code sent.

The operator's pins (SANDBOX_EGRESS_PIN) send a name to a fixed address, private ones
included; a run gets a pin only for a host one of its rules names itself, so `*` or
`*.example.com` never reach a pinned service by its name.
"""

import base64
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from sandbox.egress.addresses import Pin
from sandbox.errors import JobInvalid

MASK = "***"
MAX_RULES = 64
# Headers a credential may not set: the proxy writes them itself (where the request goes,
# how its body is framed, what the connection does), and one set by a credential would
# route or frame the request anew (request smuggling).
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te"}
    | {"trailer", "upgrade"}
)


@dataclass(frozen=True)
class Credential:
    kind: str  # bearer | basic | header | query
    name: str = ""  # the header's name, the query's key, basic's user id
    secret: str = ""

    def headers(self) -> tuple[str, str] | None:
        """The header this credential sets, if it is one."""
        if self.kind == "bearer":
            return "Authorization", f"Bearer {self.secret}"
        if self.kind == "basic":
            pair = f"{self.name}:{self.secret}".encode()
            return "Authorization", f"Basic {base64.b64encode(pair).decode()}"
        if self.kind == "header":
            return self.name, self.secret
        return None


@dataclass(frozen=True)
class Rule:
    pattern: str  # a normalised name, "*.suffix", or "*"
    credential: Credential | None = None

    def matches(self, host: str) -> bool:
        if self.pattern == "*":
            return True
        if self.pattern.startswith("*."):
            return host.endswith(self.pattern[1:]) and host != self.pattern[2:]
        return host == self.pattern


def is_address_literal(host: str) -> bool:
    """An IP address in any spelling a resolver would take: dotted, short, hex, octal,
    decimal, or IPv6."""
    bare = host.strip("[]")
    if ":" in bare:
        try:
            socket.inet_pton(socket.AF_INET6, bare.split("%")[0])
            return True
        except OSError:
            return False
    try:
        socket.inet_aton(bare)  # takes 127.1, 0x7f.1, 017700000001, 2130706433 too
        return True
    except OSError:
        return bare.replace(".", "").isdigit()


def normalise_host(host: str) -> str:
    """Lower case, no trailing dot, IDN as punycode; ValueError if it is no host name."""
    name = host.strip().rstrip(".").lower()
    if not name:
        raise ValueError("is empty")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("is not a valid host name") from None
    if any(not (c.isalnum() or c in "-._") for c in name) or len(name) > 253:
        raise ValueError("is not a valid host name")
    return name


def _pattern(raw: str) -> str:
    if raw.strip() == "*":
        return "*"
    wildcard = raw.strip().startswith("*.")
    name = normalise_host(raw.strip()[2:] if wildcard else raw)
    if "*" in name:
        raise ValueError("may hold a * only as its first label")
    if is_address_literal(name):
        raise ValueError("must be a host name, not an address")
    return f"*.{name}" if wildcard else name


def credential_problem(value: str, *, may_be_empty: bool = False) -> str | None:
    """What keeps `value` from going out in a credential as it is, or None; never the
    value itself, so that it may be shown to whoever sent it, or logged.

    A header's value is Latin-1, without control characters, and has no space at either
    end (h11 refuses one that has); a query's or basic's would be encoded, but a line
    break or a space at the end of a pasted token is a mistake there too.
    """
    if not value:
        return None if may_be_empty else "must not be empty"
    if value != value.strip():
        return "must not begin or end with a space or a line break"
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in value):
        return "must not hold control characters (line breaks, tabs, NUL)"
    if any(c > "\xff" for c in value):
        return "must hold Latin-1 characters only, as HTTP headers do"
    return None


def header_name_problem(name: str) -> str | None:
    """What keeps `name` from being the name of a header a credential sets, or None."""
    if not _is_token(name):
        return "is not a header name (ASCII letters, digits and !#$%&'*+-.^_`|~)"
    if name.lower() in RESERVED_HEADERS or name.lower().startswith("proxy-"):
        return "is a header the proxy sets itself"
    return None


def basic_user_problem(user: str) -> str | None:
    """A basic credential's user id: as any credential, and without a colon; may be empty."""
    if problem := credential_problem(user, may_be_empty=True):
        return problem
    if ":" in user:
        return "must not hold a colon (basic auth joins user and password with one)"
    return None


def checked_credential(value: str | None) -> str | None:
    """credential_problem as a validator: ValueError saying what is wrong."""
    if value is not None and (problem := credential_problem(value)):
        raise ValueError(problem)
    return value


def checked_basic_user(user: str) -> str:
    if problem := basic_user_problem(user):
        raise ValueError(problem)
    return user


def checked_basic_password(password: str | None) -> str | None:
    """A basic credential's password may be empty (an API key as the user id)."""
    if password is not None and (problem := credential_problem(password, may_be_empty=True)):
        raise ValueError(problem)
    return password


def checked_header_name(name: str) -> str:
    if problem := header_name_problem(name):
        raise ValueError(problem)
    return name


def _problems(credential: Credential) -> Iterator[tuple[str, str | None]]:
    """Each part of a credential, as http.allow names it, and what is wrong with it."""
    basic = credential.kind == "basic"
    if credential.kind == "header":
        yield "name", header_name_problem(credential.name)
    elif credential.kind == "query":
        yield "key", credential_problem(credential.name)
    elif basic:
        yield "user_id", basic_user_problem(credential.name)
    secret_field = {"bearer": "token", "basic": "password"}.get(credential.kind, "value")
    yield secret_field, credential_problem(credential.secret, may_be_empty=basic)


def _credential(auth: Mapping[str, Any] | None) -> Credential | None:
    if not auth:
        return None
    if "bearer" in auth:
        return Credential("bearer", secret=str(auth["bearer"].get("token", "")))
    if "basic" in auth:
        basic = auth["basic"]
        return Credential("basic", str(basic.get("user_id", "")), str(basic.get("password", "")))
    for kind, name_key in (("header", "name"), ("query", "key")):
        if kind in auth:
            part = auth[kind]
            secret = part.get("value", part.get("token", ""))
            return Credential(kind, str(part.get(name_key, "")), str(secret))
    return None


def parse_rules(allow: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """http.allow as rules; JobInvalid naming the entry at fault."""
    if len(allow) > MAX_RULES:
        raise JobInvalid("http.allow", f"has more than {MAX_RULES} entries")
    rules = []
    for i, item in enumerate(allow):
        try:
            pattern = _pattern(str(item.get("host", "")))
        except ValueError as exc:
            raise JobInvalid(f"http.allow.{i}.host", str(exc)) from None
        credential = _credential(item.get("auth"))
        if credential is not None:
            for field, problem in _problems(credential):
                if problem:
                    raise JobInvalid(f"http.allow.{i}.auth.{credential.kind}.{field}", problem)
        rules.append(Rule(pattern, credential))
    return tuple(rules)


def _is_token(name: str) -> bool:
    return bool(name) and all((c.isascii() and c.isalnum()) or c in "!#$%&'*+-.^_`|~" for c in name)


def rule_for(rules: Sequence[Rule], host: str) -> Rule | None:
    """The first rule naming `host` exactly, else the first pattern that matches it."""
    exact = next((r for r in rules if r.pattern == host), None)
    return exact or next((r for r in rules if r.matches(host)), None)


def pins_for(rules: Sequence[Rule], pins: Mapping[str, Pin]) -> dict[str, Pin]:
    """The pins a run may use: those of the hosts its rules name, not match by pattern."""
    named = {rule.pattern for rule in rules if not rule.pattern.startswith("*")}
    return {host: pin for host, pin in pins.items() if host in named}


def with_query(target: str, credential: Credential | None) -> str:
    """The request target with a query credential set, replacing any value the code sent."""
    if credential is None or credential.kind != "query":
        return target
    path, _, query = target.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != credential.name]
    return f"{path}?{urlencode([*kept, (credential.name, credential.secret)], quote_via=quote)}"


def masked_target(target: str) -> str:
    """The path as the egress log keeps it: every query value masked."""
    path, sep, query = target.partition("?")
    if not sep:
        return path[:2000]
    keys = [k for k, _ in parse_qsl(query, keep_blank_values=True)]
    return (path + "?" + "&".join(f"{quote(k)}={MASK}" for k in keys))[:2000]
