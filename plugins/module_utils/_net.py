# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the transports that read a whole answer share (_dist's epmd, _haproxy's admin socket): reading
until the peer closes, by a deadline and within a cap. Standard library only: runs on the targets."""

from __future__ import annotations

import socket
import time

# What a socket raises when its timeout passes: socket.timeout is not a TimeoutError before Python 3.10.
TIMEOUTS = (socket.timeout, TimeoutError)


def time_left(deadline: float) -> float:
    """Seconds left until deadline (time.monotonic()), for settimeout; TimeoutError once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the deadline passed")
    return left


class AnswerTooLong(OSError):
    """The peer sent more than the cap: reading stopped there."""


class AnswerTimedOut(TimeoutError):
    """The deadline passed before the peer closed; ``received`` bytes had come."""

    def __init__(self, received: int) -> None:
        super().__init__(f"the deadline passed after {received} bytes")
        self.received = received


def read_to_close(sock: socket.socket, deadline: float, limit: int) -> bytes:
    """Everything the peer sends until it closes the connection, by ``deadline`` (time.monotonic()), at most
    ``limit`` bytes: a peer that sends a byte now and then cannot stretch the wait, nor one without end the
    memory. AnswerTimedOut or AnswerTooLong otherwise."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            sock.settimeout(time_left(deadline))
            chunk = sock.recv(min(65536, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise AnswerTooLong(f"more than {limit} bytes")
    except TIMEOUTS as exc:
        raise AnswerTimedOut(size) from exc
