"""Building a whole day of Python objects without the cyclic garbage collector in the way."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a step builds a day's objects.

    A 20,000-sale day is millions of small objects (parsed JSON, canonical sales, rows), none of
    them in reference cycles. Each allocation burst makes the collector walk all of them again
    — about 40 % of the parse-and-map time. Reference counting still frees everything; only
    the search for cycles waits until the step is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
