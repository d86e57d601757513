"""Requests per minute per caller, with the maintained ``limits`` library (moving window).

The caller is the API key (its own figure, or ``limits.requests_per_minute``), the admin key
included. While keys are off nothing is limited: that is the embedded default on a loopback
address, one trusted user. Counts live in this process's memory: behind N API processes a key
gets up to N times the figure (docs/security.md).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from service.auth.principal import ANONYMOUS, Principal
from service.errors import TooManyRequests


class RateLimiter:
    def __init__(self, default_per_minute: int) -> None:
        self.default_per_minute = default_per_minute
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[int, RateLimitItemPerMinute] = {}

    def __call__(self, principal: Principal) -> None:
        """Counts one request; raises ``TooManyRequests`` (with ``retry_after_s``) past the limit."""
        if principal is ANONYMOUS:
            return
        per_minute = principal.requests_per_minute
        if per_minute is None:
            per_minute = self.default_per_minute
        if per_minute <= 0:
            return
        item = self._items.get(per_minute)
        if item is None:
            item = self._items.setdefault(per_minute, RateLimitItemPerMinute(per_minute))
        caller = principal.name
        if self._limiter.hit(item, caller):
            return
        reset_at = self._limiter.get_window_stats(item, caller).reset_time
        retry = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(
            f"more than {per_minute} requests in a minute; retry in {retry} s",
            retry_after_s=retry,
            code="rate_limited",
        )
