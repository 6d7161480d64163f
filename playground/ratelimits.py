"""Requests a minute, counted in Django's cache (shared by nodes when it is Redis)."""

import logging

from asgiref.sync import sync_to_async
from django.core.cache import cache
from redis.exceptions import RedisError

from playground.api.errors import ApiError

log = logging.getLogger(__name__)
RATE_WINDOW_S = 60


def over_rate(key: str, most: int, *, window_s: int = RATE_WINDOW_S) -> bool:
    """Count one more for `key` in its window (a minute unless `window_s`); True past
    `most` in it.

    With the cache away (Redis down) nothing is counted and nobody is refused: the
    engine's own caps still hold, and a limit is not worth an outage.
    """
    cache_key = f"rate:{key}"
    try:
        cache.add(cache_key, 0, window_s)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, window_s)
            count = 1
    except (OSError, RedisError) as exc:
        log.warning("rate limits are not counted: the cache is away (%s)", exc)
        return False
    return count > most


async def refuse_over_rate(key: str, per_minute: int, who: str) -> None:
    """Count one more for `key`; ApiError(429) past `per_minute`, saying who may do what."""
    if await sync_to_async(over_rate)(key, per_minute):
        raise rate_limited(per_minute, who)


def rate_limited(per_minute: int, who: str) -> ApiError:
    message = f"{who} {per_minute} a minute; wait a moment"
    return ApiError(429, "rate_limited", message, retry_after_s=RATE_WINDOW_S)
