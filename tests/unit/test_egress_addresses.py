"""Which addresses a proxy may dial: IPv6 forms of IPv4 addresses are judged by what
they carry."""

import ipaddress

import pytest

from sandbox.egress.addresses import embedded_ipv4, is_local, is_public

# Each IPv6 form of loopback, private, link-local and the cloud metadata address.
HIDDEN_PRIVATE = [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64: never public
    "64:ff9b:1:a9fe:a9:fe00::",  # local-use NAT64, /48 layout
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
    "::ac10:1",  # IPv4-compatible 172.16.0.1
    "::ffff:7f00:1",  # IPv4-mapped 127.0.0.1
    "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "::ffff:0:a9fe:a9fe",  # IPv4-translated 169.254.169.254
    "::ffff:0:a00:1",  # IPv4-translated 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("address", HIDDEN_PRIVATE)
def test_an_ipv6_form_of_a_private_ipv4_address_is_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::808:808", "::ffff:0:808:808", "2606:4700:4700::1111", "8.8.8.8", "2002:808:808::"],
)
def test_an_ipv6_form_of_a_public_ipv4_address_stays_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("::7f00:1", "127.0.0.1"),
        ("::ffff:0:a00:1", "10.0.0.1"),
        ("::ffff:c0a8:101", "192.168.1.1"),
        ("2001:db8::1", None),
    ],
)
def test_the_embedded_ipv4_address_is_read_from_each_form(
    address: str, carried: str | None
) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert found == (ipaddress.IPv4Address(carried) if carried else None)


@pytest.mark.parametrize("address", ["::7f00:1", "::ffff:0:7f00:1", "::ffff:a9fe:a9fe", "::1"])
def test_an_ipv6_form_of_loopback_or_link_local_is_local(address: str) -> None:
    assert is_local(ipaddress.ip_address(address))


def test_a_private_address_elsewhere_is_not_local() -> None:
    # The build proxy may reach an operator's index behind a corporate proxy.
    assert not is_local(ipaddress.ip_address("::ffff:0:a00:1"))
