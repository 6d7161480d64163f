"""Egress for runs: the CA, the upstream TLS context and the settings every run's proxy
shares; `proxy()` makes one run's proxy in its sandbox's egress folder."""

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.egress.addresses import Pin, parse_pins
from sandbox.egress.ca import CertificateAuthority
from sandbox.egress.limits import TUNNEL_BURST, TUNNELS_PER_S, EgressLimits
from sandbox.egress.policy import Rule
from sandbox.egress.proxy import EgressProxy


@dataclass(frozen=True)
class EgressSettings:
    ports: frozenset[int] = frozenset({80, 443})
    max_connections: int = 16
    max_bytes: int = 64 * 1024 * 1024
    ca_bundle: str = ""
    pins: dict[str, Pin] = field(default_factory=dict)
    tunnel_burst: int = TUNNEL_BURST
    tunnels_per_s: float = TUNNELS_PER_S

    @classmethod
    def parse(
        cls, *, ports: str, max_connections: int, max_mib: int, ca_bundle: str, pins: str
    ) -> "EgressSettings":
        return cls(
            ports=frozenset(int(p) for p in ports.split(",") if p.strip()),
            max_connections=max_connections,
            max_bytes=max_mib * 1024 * 1024,
            ca_bundle=ca_bundle,
            pins=parse_pins(pins),
        )


class RunEgress:
    def __init__(self, state_dir: Path, settings: EgressSettings) -> None:
        self.settings = settings
        self.ca = CertificateAuthority(state_dir / "egress-ca")
        self.upstream_tls = ssl.create_default_context(cafile=settings.ca_bundle or None)
        self.limits = EgressLimits(
            ports=settings.ports,
            max_connections=settings.max_connections,
            max_bytes=settings.max_bytes,
            tunnel_burst=settings.tunnel_burst,
            tunnels_per_s=settings.tunnels_per_s,
        )

    def proxy(self, folder: Path, rules: Sequence[Rule], deadline: float) -> EgressProxy:
        return EgressProxy(
            folder,
            rules,
            ca=self.ca,
            upstream_tls=self.upstream_tls,
            pins=self.settings.pins,
            limits=self.limits,
            deadline=deadline,
        )
