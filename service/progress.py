"""Progress of long CLI work (evaluation, imports) that suits where the output goes.

On a terminal: a tqdm bar that redraws in place. Anywhere else (a log file, a pipe, CI): one log
line every ``interval_s`` seconds and one at the end, never a line per update, so a long run
stays a short log.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

logger = logging.getLogger("hippograph.progress")


class Progress:
    """``update(done)`` with the absolute count; use as a context manager (closing reports the
    final count). ``enabled=False`` shows nothing."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        *,
        stream: IO[str] | None = None,
        interval_s: float = 10.0,
        enabled: bool = True,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self._stream = stream or sys.stderr
        self._interval = interval_s
        self._enabled = enabled
        self._done = 0
        self._started = self._last = time.monotonic()
        self._bar: Any = None
        if enabled and self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=desc, file=self._stream)

    def update(self, done: int) -> None:
        self._done = done
        if self._bar is not None:
            self._bar.n = done
            self._bar.refresh()
        elif self._enabled and time.monotonic() - self._last >= self._interval:
            self._log()

    def advance(self, n: int = 1) -> None:
        self.update(self._done + n)

    def _log(self) -> None:
        self._last = time.monotonic()
        elapsed = self._last - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        pct = 100 * self._done / self.total if self.total else 100.0
        logger.info(
            "%s: %d/%d %s (%.0f%%, %.1f %s/s, %.0f s)",
            self.desc, self._done, self.total, self.unit, pct, rate, self.unit, elapsed,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._enabled:
            self._log()
        self._enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
