"""Which addresses a proxy may dial: public ones, and the operator's pinned exceptions."""

import asyncio
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The name is not allowed, does not resolve, or resolves where no proxy may go."""


@dataclass(frozen=True)
class Pin:
    host: str
    port: int


def parse_pins(text: str) -> dict[str, Pin]:
    """SANDBOX_EGRESS_PIN: "name=ip:port,name=ip:port" -> {name: Pin}. ValueError if bad."""
    pins: dict[str, Pin] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, target = item.partition("=")
        address, _, port = target.rpartition(":")
        if not sep or not name or not address or not port.isdigit():
            raise ValueError(f"{item!r} is not name=ip:port")
        ipaddress.ip_address(address.strip("[]"))
        pins[name.strip().lower().rstrip(".")] = Pin(address.strip("[]"), int(port))
    return pins


# IPv6 forms that carry an IPv4 address in their last 32 bits, reached through it: NAT64's
# well-known prefix (RFC 6052), IPv4-compatible (RFC 4291, deprecated but still routed by
# some stacks) and IPv4-translated (RFC 2765). Mapped, 6to4 and Teredo have attributes.
EMBEDS_IPV4_LAST_32_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
# NAT64 for one network's own use (RFC 8215): its operator picks where the IPv4 address
# sits, so none can be read out, and IANA lists the block as not global.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, in any form a network may route by it."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in EMBEDS_IPV4_LAST_32_BITS):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally routable: not loopback, private, link-local, CGNAT, multicast or reserved.

    An IPv6 address that embeds an IPv4 one (mapped, compatible, translated, NAT64, 6to4,
    Teredo) is judged by that too: a gateway would deliver it there.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64:
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not address.is_multicast


def is_local(address: Address) -> bool:
    """This machine or its link: never an upstream for any proxy, pinned names aside."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None and is_local(embedded):
            return True
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
    )


async def resolve(host: str, port: int, *, public_only: bool) -> tuple[str, int]:
    """The first acceptable address of `host`; AddressRefused when it has none.

    public_only: for names a tenant chose. Names the operator configured (the package
    indexes) may resolve to private addresses, as they do behind a corporate proxy, but
    never to this machine or its link.
    """
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise AddressRefused(f"{host} does not resolve ({exc.strerror or exc})") from None
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if is_public(address) if public_only else not is_local(address):
            return str(address), port
    kind = "public" if public_only else "outside this machine"
    raise AddressRefused(f"{host} resolves only to addresses that are not {kind}")


async def dial_target(
    host: str, port: int, pins: Mapping[str, Pin], *, public_only: bool = True
) -> tuple[str, int]:
    """Where to connect for host:port: its pin, else an address that passed the check."""
    pin = pins.get(host.lower().rstrip("."))
    if pin is not None:
        return pin.host, pin.port
    return await resolve(host, port, public_only=public_only)
