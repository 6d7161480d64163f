"""Requests a minute, counted in Django's cache (shared by nodes when it is Redis)."""

from django.core.cache import cache

RATE_WINDOW_S = 60


def over_rate(key: str, per_minute: int) -> bool:
    """Count one more for `key` in this minute's window; True past `per_minute`."""
    cache_key = f"rate:{key}"
    cache.add(cache_key, 0, RATE_WINDOW_S)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, RATE_WINDOW_S)
        count = 1
    return count > per_minute
