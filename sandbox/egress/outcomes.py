"""What became of a run's requests through its egress proxy: the entry each leaves in the
run's egress log, and the refusals, each with the HTTP status the code gets."""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class EgressEntry:
    """One request on the run's record: never its credential, never a query value."""

    method: str
    host: str
    port: int
    path: str
    status: int | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    duration_ms: int = 0
    credential_added: bool = False
    refused: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Refused(Exception):
    """The request may not go out; the message is the one-line reason the code gets."""

    status = 403


class Malformed(Refused):
    """The request could be read more than one way: it is answered and its connection
    closed, since what follows it on the connection could be read more ways too."""

    status = 400


class TooFast(Refused):
    """The run opened its tunnels faster than its rate: it may try again in a second."""

    status = 429


class CredentialUnfit(Refused):
    """The rule's credential cannot go in an HTTP request (the API refuses such values up
    front; this is the proxy's own check): a clean answer, never a dropped connection."""

    status = 502


class Unreachable(Refused):
    """The request was allowed, but its host could not be reached or not be trusted."""

    status = 502


class CapReached(ConnectionAbortedError):
    """The run moved its cap of bytes: its connection ends where it stands."""
