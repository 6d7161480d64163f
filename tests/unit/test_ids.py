"""Ids: time-ordered, and not guessable from a neighbour."""

import itertools

from sandbox.ids import CROCKFORD, new_execution_id


def _value(ulid: str) -> int:
    number = 0
    for char in ulid:
        number = number * 32 + CROCKFORD.index(char)
    return number


def test_ids_made_in_the_same_millisecond_are_not_sequential() -> None:
    ids = [new_execution_id().removeprefix("exec_") for _ in range(2000)]
    by_millisecond: dict[str, list[int]] = {}
    for ulid in ids:
        by_millisecond.setdefault(ulid[:10], []).append(_value(ulid[10:]))
    gaps = [abs(b - a) for values in by_millisecond.values() for a, b in itertools.pairwise(values)]
    assert gaps, "expected several ids within one millisecond"
    assert min(gaps) > 2**40  # a counter would differ by 1
    assert len(set(ids)) == len(ids)


def test_ids_sort_by_time() -> None:
    first = new_execution_id()
    import time

    time.sleep(0.002)
    assert new_execution_id()[:15] > first[:15]
