"""What one run's egress proxy allows: ports, connections, bytes, and new tunnels a second."""

import time
from collections.abc import Callable
from dataclasses import dataclass

# New tunnels (CONNECTs that passed the allow-list): each is a TLS handshake on the
# server's event loop, and for a name not seen before a leaf certificate minted. A client
# that keeps its connections needs a handful; one that opens a tunnel per request (urllib)
# stays under this pace, and a flood does not.
TUNNEL_BURST = 32
TUNNELS_PER_S = 8.0


@dataclass(frozen=True)
class EgressLimits:
    ports: frozenset[int] = frozenset({80, 443})
    max_connections: int = 16
    max_bytes: int = 64 * 1024 * 1024
    tunnel_burst: int = TUNNEL_BURST
    tunnels_per_s: float = TUNNELS_PER_S


class TunnelRate:
    """A token bucket: `burst` tunnels at once, then `per_s` a second."""

    def __init__(
        self, burst: int, per_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.per_s, self._clock = burst, per_s, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        """One tunnel, if the bucket holds one; False past the rate."""
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
