"""A Redis cache that the site can lose: while Redis is unreachable, every cache call answers as a
cache miss (nothing stored, nothing found) instead of raising, and the outage is logged once.

Everything SEAL keeps in the cache can be recomputed: rendered leaderboard pages and JSON, the
lookup of a domain's public snapshot, the lab API's rate-limit counters (which therefore do not
limit while Redis is down). So a Redis outage must cost speed, never a 500. After a failure the
process leaves Redis alone for SEAL_CACHE_RETRY_SECONDS, so that an outage costs one connection
attempt now and then rather than one (or a timeout) per cache call; the first call that succeeds
again logs that the cache is back.

Django's own RedisCache is kept; only its client, which every cache method goes through, is
wrapped. django-redis's IGNORE_EXCEPTIONS does the first half but logs every failed call (several
per request) and tries Redis on each of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.exceptions
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Outage:
    down: bool = False
    retry_at: float = 0.0


# Per process, per Redis location: Django makes a cache object per thread, an outage is shared.
_outages: dict[str, _Outage] = {}
_outages_lock = threading.Lock()


def _where(servers: Iterable[str]) -> str:
    """host:port/db of each server, never the password a URL may carry."""
    shown = []
    for server in servers:
        parts = urlsplit(server)
        shown.append(f"{parts.hostname}:{parts.port or 6379}{parts.path}")
    return ", ".join(shown)


def _retry_seconds() -> float:
    return float(getattr(settings, "SEAL_CACHE_RETRY_SECONDS", 5.0))


class DegradingRedisCacheClient(RedisCacheClient):
    """Django's Redis client, answering as an empty cache while Redis cannot be reached."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._where = _where(servers)
        with _outages_lock:
            self._outage = _outages.setdefault(self._where, _Outage())

    def _call(self, fallback: Callable[[], T], call: Callable[[], T]) -> T:
        outage = self._outage
        if outage.down and time.monotonic() < outage.retry_at:
            return fallback()
        try:
            result = call()
        except redis.exceptions.RedisError as exc:
            with _outages_lock:
                first = not outage.down
                outage.down = True
                outage.retry_at = time.monotonic() + _retry_seconds()
            if first:
                logger.warning(
                    "cache at %s is unreachable (%s: %s); serving without a cache (pages "
                    "rendered anew, API rate limits not counted) until it is back",
                    self._where,
                    type(exc).__name__,
                    exc,
                )
            return fallback()
        if outage.down:
            with _outages_lock:
                recovered = outage.down
                outage.down = False
            if recovered:
                logger.warning("cache at %s is reachable again", self._where)
        return result

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return self._call(lambda: False, lambda: RedisCacheClient.add(self, key, value, timeout))

    def get(self, key: Any, default: Any) -> Any:
        return self._call(lambda: default, lambda: RedisCacheClient.get(self, key, default))

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        self._call(lambda: None, lambda: RedisCacheClient.set(self, key, value, timeout))

    def touch(self, key: Any, timeout: Any) -> bool:
        return self._call(lambda: False, lambda: RedisCacheClient.touch(self, key, timeout))

    def delete(self, key: Any) -> bool:
        return self._call(lambda: False, lambda: RedisCacheClient.delete(self, key))

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        return self._call(dict, lambda: RedisCacheClient.get_many(self, keys))

    def has_key(self, key: Any) -> bool:
        return self._call(lambda: False, lambda: RedisCacheClient.has_key(self, key))

    def incr(self, key: Any, delta: int) -> Any:
        def missing() -> Any:
            raise ValueError(f"Key '{key}' not found (the cache is unreachable)")

        return self._call(missing, lambda: RedisCacheClient.incr(self, key, delta))

    def set_many(self, data: Mapping[Any, Any], timeout: Any) -> None:
        self._call(lambda: None, lambda: RedisCacheClient.set_many(self, data, timeout))

    def delete_many(self, keys: Iterable[Any]) -> None:
        self._call(lambda: None, lambda: RedisCacheClient.delete_many(self, keys))

    def clear(self) -> bool:
        return self._call(lambda: False, lambda: RedisCacheClient.clear(self))


class DegradingRedisCache(RedisCache):
    """settings.CACHES backend: Django's RedisCache on the degrading client above."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = DegradingRedisCacheClient
