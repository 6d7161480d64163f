"""Client addresses come from the socket; X-Forwarded-For only from a trusted proxy."""

import ipaddress

from django.test import RequestFactory
from pytest_django.fixtures import Settings as SettingsWrapper

from playground.web.guests import client_address


def _request(peer: str, forwarded: str) -> object:
    return RequestFactory().post("/runs", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)


def test_forwarded_for_is_ignored_from_an_untrusted_peer(settings: SettingsWrapper) -> None:
    settings.SANDPIT_TRUSTED_PROXIES = []
    assert client_address(_request("127.0.0.1", "203.0.113.9")) == "127.0.0.1"  # type: ignore[arg-type]


def test_a_trusted_proxy_names_the_client(settings: SettingsWrapper) -> None:
    settings.SANDPIT_TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.0/8")]
    # The client may prepend anything; the proxy appends what it saw, rightmost.
    request = _request("127.0.0.1", "1.1.1.1, 198.51.100.7, 127.0.0.2")
    assert client_address(request) == "198.51.100.7"  # type: ignore[arg-type]
