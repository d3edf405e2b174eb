"""Deadlines: the time by which a whole request, or a whole step, must be done.

A timeout per socket operation does not bound a request: a server that trickles one byte every
two seconds never trips a 60-second read timeout, and holds the run (and the organization's
only run slot) for as long as it likes. So every outbound request here has a deadline for
connect plus every read, its body is read in chunks checked against it (and against a size
limit), and each socket operation's own timeout is cut to what is left of the deadline. A step
made of many requests has a deadline of its own, the earliest of the two wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


class DeadlineExceeded(TimeoutError):
    """The deadline passed before the work was done."""


class BodyTooLarge(ValueError):
    """A response body beyond the size the caller accepts."""


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock, and the budget it was set with (for messages)."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at


def earliest(*deadlines: Deadline | None) -> Deadline:
    """The first of the given deadlines to pass (at least one must be given)."""
    return min((d for d in deadlines if d is not None), key=lambda d: d.at)


def timeout_within(
    deadline: Deadline, timeout_seconds: float, connect_seconds: float
) -> httpx.Timeout:
    """Per-operation timeouts that never reach past the deadline."""
    left = max(deadline.remaining(), 0.001)
    return httpx.Timeout(min(timeout_seconds, left), connect=min(connect_seconds, left))


def read_body(response: httpx.Response, deadline: Deadline, max_bytes: int | None = None) -> bytes:
    """A streamed response's whole body, or DeadlineExceeded / BodyTooLarge as soon as it is
    late or too big (checked after every chunk; a silent server trips the read timeout,
    which `timeout_within` keeps inside the deadline)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BodyTooLarge(f"the response is larger than {max_bytes:,} bytes")
        chunks.append(chunk)
        if deadline.expired():
            raise DeadlineExceeded(
                f"no complete answer within {deadline.seconds:g} s ({size:,} bytes received)"
            )
    return b"".join(chunks)
