# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""epmd, the distribution handshake and rpc against peers that drip, flood or never answer.

Each call has one deadline for all its reads; each must return within its timeout and a second,
with a message naming the peer. The fake servers give up on their own after a few seconds, so a
call that does not keep its deadline fails its test instead of hanging the run.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _dist, _edp, _net

GIVE_UP = 4.0  # a fake server stops after this many seconds whatever the client does


class FakePeer:
    """A TCP server on 127.0.0.1 that accepts one client and runs behaviour(conn, stop) on it."""

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        self.listener.settimeout(GIVE_UP)
        try:
            conn, _addr = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(GIVE_UP)
            try:
                self.behaviour(conn, self.stop)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(GIVE_UP + 1)


def drip(prefix: bytes = b"", byte: bytes = b"x"):
    """Sends prefix, then one byte every 0.2 s."""

    def behaviour(conn, stop):
        conn.recv(4096)
        conn.sendall(prefix)
        deadline = time.monotonic() + GIVE_UP
        while not stop.is_set() and time.monotonic() < deadline:
            conn.sendall(byte)
            stop.wait(0.2)

    return behaviour


def flood(prefix: bytes = b""):
    """Sends prefix, then bytes without end."""

    def behaviour(conn, stop):
        conn.recv(4096)
        conn.sendall(prefix)
        block = b"y" * 65536
        deadline = time.monotonic() + GIVE_UP
        while not stop.is_set() and time.monotonic() < deadline:
            conn.sendall(block)

    return behaviour


def silent(conn, stop):
    """Reads what comes and never answers."""
    deadline = time.monotonic() + GIVE_UP
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            conn.settimeout(0.1)
            conn.recv(4096)
        except _net.TIMEOUTS:
            continue


@pytest.fixture
def peer():
    made = []

    def make(behaviour) -> FakePeer:
        made.append(FakePeer(behaviour))
        return made[-1]

    yield make
    for server in made:
        server.close()


def timed(func, *args):
    start = time.monotonic()
    try:
        return func(*args), time.monotonic() - start
    except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
        return exc, time.monotonic() - start


# --- epmd -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [drip(b"\x00\x00\x11\x11name app at port 1"), silent], ids=["drip", "silent"])
def test_epmd_names_keeps_one_deadline(peer, behaviour):
    server = peer(behaviour)
    raised, elapsed = timed(_dist.epmd_names, "127.0.0.1", server.port, 1.0)
    assert elapsed < 2.0
    assert isinstance(raised, TimeoutError) and isinstance(raised, OSError)
    assert f"127.0.0.1:{server.port}" in str(raised) and "timeout_s" in str(raised)


def test_epmd_names_reads_no_more_than_its_cap(peer):
    server = peer(flood(b"\x00\x00\x11\x11"))
    raised, elapsed = timed(_dist.epmd_names, "127.0.0.1", server.port, 1.0)
    assert elapsed < 2.0
    assert isinstance(raised, OSError), raised
    assert f"127.0.0.1:{server.port}" in str(raised) and "64 KiB" in str(raised)


def test_epmd_names_names_the_option_it_is_given(peer):
    server = peer(silent)
    with pytest.raises(OSError, match="attempt_timeout_s"):
        _dist.epmd_names("127.0.0.1", server.port, 0.3, option="attempt_timeout_s")


# --- the distribution handshake ------------------------------------------------------------------


def connect(port: int, timeout: float):
    return _edp.Connection.connect("127.0.0.1", port, "app@127.0.0.1", "ctl@127.0.0.1", "COOKIE", timeout)


@pytest.mark.parametrize(
    "behaviour",
    [drip(b"\xff\xffs"), drip(b"\x00\x03sok\x00\x40N"), silent],
    ids=["status-drip", "challenge-drip", "silent"],
)
def test_handshake_keeps_one_deadline(peer, behaviour):
    server = peer(behaviour)
    raised, elapsed = timed(connect, server.port, 1.0)
    assert elapsed < 2.0
    assert isinstance(raised, TimeoutError), raised
    assert f"app@127.0.0.1 at 127.0.0.1:{server.port}" in str(raised) and "timeout of 1 s" in str(raised)


def test_handshake_flood_is_refused_in_time(peer):
    server = peer(flood(b"\xff\xff"))
    raised, elapsed = timed(connect, server.port, 1.0)
    assert elapsed < 2.0
    assert isinstance(raised, (_edp.ProtocolError, TimeoutError)), raised


# --- rpc ------------------------------------------------------------------------------------------


def connection(port: int) -> _edp.Connection:
    sock = socket.create_connection(("127.0.0.1", port), timeout=1)
    return _edp.Connection(sock, "ctl@127.0.0.1", 1, "app@127.0.0.1")


@pytest.mark.parametrize(
    "behaviour",
    [drip(struct.pack(">I", 1000) + b"p"), drip(byte=b"\x00"), silent],
    ids=["message-drip", "tick-drip", "silent"],
)
def test_rpc_keeps_one_deadline_and_says_timeout(peer, behaviour):
    """A timeout is {badrpc, timeout} on every Python: on 3.8 and 3.9 socket.timeout is no TimeoutError."""
    conn = connection(peer(behaviour).port)
    answer, elapsed = timed(conn.rpc, "erlang", "node", [], 1.0)
    assert elapsed < 2.0
    assert answer == ("badrpc", "timeout")


def test_rpc_refuses_a_message_over_the_cap(peer):
    server = peer(flood(struct.pack(">I", 2**32 - 1)))
    conn = connection(server.port)
    raised, elapsed = timed(conn.rpc, "erlang", "node", [], 1.0)
    assert elapsed < 2.0
    assert isinstance(raised, _edp.ProtocolError), raised
    assert f"app@127.0.0.1 (127.0.0.1:{server.port})" in str(raised)
    assert "4294967295 bytes" in str(raised) and "MAX_FRAME" in str(raised)


def test_rpc_flood_under_the_cap_ends_in_time(peer):
    conn = connection(peer(flood(struct.pack(">I", _edp.MAX_FRAME) + b"p")).port)
    raised, elapsed = timed(conn.rpc, "erlang", "node", [], 1.0)
    assert elapsed < 2.0
    assert raised == ("badrpc", "timeout") or isinstance(raised, _edp.ProtocolError), raised
