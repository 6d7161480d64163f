"""The rule for credentials the proxy adds: what may go in a header, said without the
value; the engine's check and the API schema's both follow it."""

import pytest
from pydantic import ValidationError

from playground.api.schemas import HttpAllow
from sandbox.egress.policy import (
    basic_user_problem,
    credential_problem,
    header_name_problem,
    parse_rules,
)
from sandbox.errors import JobInvalid


@pytest.mark.parametrize(
    "value", ["t0ken", "a b", "Bearer-ish.token_with~chars/+=", "caf\u00e9", "x" * 4096]
)
def test_it_takes_what_a_header_can_carry(value: str) -> None:
    assert credential_problem(value) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        (" tok", "must not begin or end with a space"),
        ("tok ", "must not begin or end with a space"),
        ("tok\n", "must not begin or end with a space or a line break"),
        ("\u00a0tok", "must not begin or end with a space"),
        ("to\r\nk", "must not hold control characters"),
        ("to\x00k", "must not hold control characters"),
        ("to\tk", "must not hold control characters"),
        ("to\x7fk", "must not hold control characters"),
        ("to\x85k", "must not hold control characters"),
        ("tok\u20ac", "Latin-1"),
        ("tok\U0001f511", "Latin-1"),
    ],
)
def test_it_says_what_is_wrong_and_never_the_value(value: str, problem: str) -> None:
    said = credential_problem(value)
    assert said is not None and problem in said
    assert "tok" not in said


def test_an_empty_value_is_fine_where_it_may_be() -> None:
    assert credential_problem("", may_be_empty=True) is None
    assert basic_user_problem("") is None
    assert basic_user_problem("me:you") is not None


@pytest.mark.parametrize(
    ("name", "fine"),
    [
        ("X-Api-Key", True),
        ("Authorization", True),
        ("X Api", False),
        ("X-Schl\u00fcssel", False),
        ("", False),
        ("Host", False),
        ("content-length", False),
        ("Transfer-Encoding", False),
        ("Connection", False),
        ("Upgrade", False),
        ("Proxy-Authorization", False),
    ],
)
def test_a_custom_header_name_is_a_token_the_proxy_does_not_set_itself(
    name: str, fine: bool
) -> None:
    assert (header_name_problem(name) is None) is fine


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"bearer": {"token": "tok\n"}}, "http.allow.0.auth.bearer.token"),
        ({"basic": {"user_id": "a:b", "password": "p"}}, "http.allow.0.auth.basic.user_id"),
        ({"basic": {"user_id": "u", "password": " p"}}, "http.allow.0.auth.basic.password"),
        ({"header": {"name": "Host", "value": "v"}}, "http.allow.0.auth.header.name"),
        ({"header": {"name": "X-Key", "value": "v\u20ac"}}, "http.allow.0.auth.header.value"),
        ({"query": {"key": "", "value": "v"}}, "http.allow.0.auth.query.key"),
        ({"query": {"key": "k", "token": "v\x01"}}, "http.allow.0.auth.query.value"),
    ],
)
def test_the_engine_refuses_a_bad_credential_by_its_field(
    auth: dict[str, dict[str, str]], field: str
) -> None:
    with pytest.raises(JobInvalid) as refused:
        parse_rules([{"host": "api.example.com", "auth": auth}])
    assert refused.value.field == field


def test_the_engine_takes_a_basic_credential_with_one_part_empty() -> None:
    (rule,) = parse_rules([{"host": "a.example", "auth": {"basic": {"user_id": "sk_live"}}}])
    assert rule.credential is not None and rule.credential.name == "sk_live"


@pytest.mark.parametrize(
    ("auth", "loc"),
    [
        ({"bearer": {"token": ""}}, ("auth", "bearer", "token")),
        ({"basic": {"user_id": "u\n", "password": "p"}}, ("auth", "basic", "user_id")),
        ({"basic": {"user_id": "u", "password": "p\u20ac"}}, ("auth", "basic", "password")),
        ({"header": {"name": "Content-Length", "value": "1"}}, ("auth", "header", "name")),
        ({"header": {"name": "X-Key", "token": " v"}}, ("auth", "header", "value")),
        ({"query": {"key": "k\t", "value": "v"}}, ("auth", "query", "key")),
    ],
)
def test_the_api_schema_refuses_it_before_anything_is_resolved(
    auth: dict[str, dict[str, str]], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as refused:
        HttpAllow.model_validate({"host": "api.example.com", "auth": auth})
    (error,) = refused.value.errors()
    assert error["loc"] == loc
