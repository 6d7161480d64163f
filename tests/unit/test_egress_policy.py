"""http.allow's rules: host patterns, address literals, credentials, the masked log."""

import pytest

from sandbox.egress.addresses import parse_pins
from sandbox.egress.policy import (
    is_address_literal,
    masked_target,
    parse_rules,
    pins_for,
    rule_for,
    with_query,
)
from sandbox.errors import JobInvalid


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "0x7f.1",
        "0x7f000001",
        "2130706433",
        "017700000001",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "10.0.0.1",
    ],
)
def test_address_literals_in_every_spelling_are_literals(host: str) -> None:
    assert is_address_literal(host)


@pytest.mark.parametrize("host", ["example.com", "0x7f.example.com", "api-1.example.com"])
def test_names_are_not_literals(host: str) -> None:
    assert not is_address_literal(host)


def test_names_are_matched_as_their_canonical_form() -> None:
    (rule,) = parse_rules([{"host": "API.Example.COM."}])
    assert rule.pattern == "api.example.com"
    (idn,) = parse_rules([{"host": "bücher.example"}])
    assert idn.pattern == "xn--bcher-kva.example"


def test_a_wildcard_takes_subdomains_and_not_the_apex_and_star_takes_all() -> None:
    rules = parse_rules([{"host": "*.example.com"}])
    assert rule_for(rules, "a.example.com") and rule_for(rules, "a.b.example.com")
    assert rule_for(rules, "example.com") is None
    assert rule_for(rules, "badexample.com") is None
    assert rule_for(parse_rules([{"host": "*"}]), "anything.org")


def test_an_exact_rule_wins_over_a_pattern() -> None:
    rules = parse_rules(
        [
            {"host": "*.example.com", "auth": {"bearer": {"token": "wide"}}},
            {"host": "api.example.com", "auth": {"bearer": {"token": "narrow"}}},
        ]
    )
    chosen = rule_for(rules, "api.example.com")
    assert chosen is not None and chosen.credential is not None
    assert chosen.credential.secret == "narrow"


def test_a_pin_applies_only_to_a_host_a_rule_names_itself() -> None:
    pins = parse_pins(
        "a.example.com=10.0.0.1:80,internal.example=10.0.0.2:80,Other.Test.=[fd00::1]:443"
    )

    def pinned(*hosts: str) -> set[str]:
        return set(pins_for(parse_rules([{"host": host} for host in hosts]), pins))

    assert pinned("a.example.com") == {"a.example.com"}
    assert pinned("A.Example.COM.", "other.test") == {"a.example.com", "other.test"}
    assert pinned("*") == set()
    assert pinned("*.example.com", "*.test") == set()
    assert pinned("*", "*.example.com", "b.example.com") == set()
    assert pinned("*", "internal.example") == {"internal.example"}


@pytest.mark.parametrize(
    ("host", "field"),
    [
        ("127.0.0.1", "http.allow.0.host"),
        ("exa mple.com", "http.allow.0.host"),
        ("a.*.example.com", "http.allow.0.host"),
        ("", "http.allow.0.host"),
    ],
)
def test_bad_hosts_are_refused_naming_the_entry(host: str, field: str) -> None:
    with pytest.raises(JobInvalid) as refused:
        parse_rules([{"host": host}])
    assert refused.value.field == field


def test_a_credential_with_a_line_break_is_refused() -> None:
    with pytest.raises(JobInvalid, match="line breaks"):
        parse_rules([{"host": "a.com", "auth": {"bearer": {"token": "x\r\nEvil: 1"}}}])


def test_each_kind_sets_its_header_and_query_replaces_the_code_s_value() -> None:
    kinds = {
        "bearer": {"token": "t"},
        "basic": {"user_id": "u", "password": "p"},
        "header": {"name": "X-Key", "token": "h"},
    }
    headers = []
    for kind, auth in kinds.items():
        (rule,) = parse_rules([{"host": "a.com", "auth": {kind: auth}}])
        assert rule.credential is not None
        headers.append(rule.credential.headers())
    assert headers == [
        ("Authorization", "Bearer t"),
        ("Authorization", "Basic dTpw"),
        ("X-Key", "h"),
    ]
    (rule,) = parse_rules([{"host": "a.com", "auth": {"query": {"key": "k", "value": "s e"}}}])
    assert with_query("/p?k=mine&x=1", rule.credential) == "/p?x=1&k=s%20e"


def test_the_log_keeps_query_keys_and_never_their_values() -> None:
    assert masked_target("/a/b?token=s3cret&page=2") == "/a/b?token=***&page=***"
    assert masked_target("/plain") == "/plain"
