"""Public ids that sort by time: a prefix and a ULID (48 bits of milliseconds, 80 random).

Every id gets 80 fresh random bits, even within one millisecond: a shared permalink's
neighbours cannot be guessed from it. Ids of one millisecond sort in a random but fixed
order, which is all that newest-first pagination by id needs (no repeats, no gaps).
"""

import secrets
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_BITS = 80


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def new_ulid() -> str:
    now_ms = time.time_ns() // 1_000_000
    return _encode(now_ms, 10) + _encode(secrets.randbits(RANDOM_BITS), 16)


def new_execution_id() -> str:
    return f"exec_{new_ulid()}"


def new_runtime_id() -> str:
    return f"rt_{new_ulid()}"


def new_revision_id() -> str:
    return f"rev_{new_ulid()}"


def new_secret_id() -> str:
    return f"sec_{new_ulid()}"


def new_tool_id() -> str:
    return f"tool_{new_ulid()}"


def new_tool_revision_id() -> str:
    return f"toolrev_{new_ulid()}"


def new_session_id() -> str:
    return f"ses_{new_ulid()}"


def new_notebook_id() -> str:
    return f"nb_{new_ulid()}"
