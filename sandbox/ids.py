"""Public ids that sort by time: a prefix and a ULID (48 bits of milliseconds, 80 random).

Within one millisecond the random part counts up, so ids made by one process are
strictly increasing; that is what newest-first pagination by id relies on.
"""

import secrets
import threading
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_BITS = 80

_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def new_ulid() -> str:
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random += 1
            if _last_random >> RANDOM_BITS:  # 2**80 ids in one millisecond: borrow the next
                now_ms += 1
                _last_random = secrets.randbits(RANDOM_BITS - 1)
        else:
            # One bit short of the full range leaves room to count up within the millisecond.
            _last_random = secrets.randbits(RANDOM_BITS - 1)
        _last_ms = now_ms
        return _encode(now_ms, 10) + _encode(_last_random, 16)


def new_execution_id() -> str:
    return f"exec_{new_ulid()}"


def new_runtime_id() -> str:
    return f"rt_{new_ulid()}"


def new_revision_id() -> str:
    return f"rev_{new_ulid()}"
