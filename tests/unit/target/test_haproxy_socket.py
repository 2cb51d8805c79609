# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API against hostile peers (module_utils/_haproxy.py, run on load balancers): a
socket that never answers, one that floods, answers that are damaged CSV. Standard library only, so
that it runs under every Python a target may have (3.8: socket.timeout is no TimeoutError there)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _haproxy
from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import HAProxyError, RuntimeAPI, read_stats


class Peer:
    """A listening unix or TCP socket; each connection is handed to behave(conn, command) in a thread."""

    def __init__(self, behave, tcp: bool = False):
        self.behave = behave
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        if tcp:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.api_args = {"host": "127.0.0.1", "port": self.listener.getsockname()[1]}
            self.where = f"tcp://127.0.0.1:{self.api_args['port']}"
        else:
            self.dir = tempfile.mkdtemp(prefix="hpeer", dir="/tmp")
            self.where = os.path.join(self.dir, "admin.sock")
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.where)
            self.api_args = {"socket_path": self.where}
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.listener.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        try:
            command = conn.recv(4096).decode().strip()
            self.behave(self, conn, command)
        except OSError:
            pass  # the client gave up
        finally:
            conn.close()

    def api(self, timeout: float) -> RuntimeAPI:
        return RuntimeAPI(timeout=timeout, **self.api_args)

    def close(self):
        self.stop.set()
        self.listener.close()
        for conn in self.conns:
            conn.close()
        if not self.api_args.get("host"):
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def peer():
    made = []

    def make(behave, tcp=False):
        made.append(Peer(behave, tcp))
        return made[-1]

    yield make
    for one in made:
        one.close()


def silent(peer, conn, _command):
    peer.stop.wait(10)


def flood(peer, conn, _command):
    block = b"be,srv," + b"x" * 65529
    while not peer.stop.is_set():
        conn.sendall(block)


def answering(text: str):
    def behave(_peer, conn, _command):
        conn.sendall(text.encode())

    return behave


@pytest.mark.parametrize("tcp", [False, True])
def test_a_silent_socket_ends_at_socket_timeout_s_naming_the_option(peer, tcp):
    fake = peer(silent, tcp)
    started = time.monotonic()
    with pytest.raises(HAProxyError) as failed:
        fake.api(0.4).command("show servers state")
    assert time.monotonic() - started < 0.4 + 1
    message = str(failed.value)
    assert fake.where in message and "`show servers state`" in message
    assert "within 0.4s (socket_timeout_s; 0 bytes came)" in message and "raise socket_timeout_s" in message


def test_a_connection_that_is_never_accepted_ends_at_socket_timeout_s(monkeypatch):
    """A connect that times out (a full backlog, a dropped SYN) names the option too, on every Python."""

    def never(*_args, **_kwargs):
        raise socket.timeout("timed out")  # noqa: UP041 - what Python 3.8 raises: no TimeoutError there

    monkeypatch.setattr(_haproxy.socket, "create_connection", never)
    with pytest.raises(HAProxyError) as failed:
        RuntimeAPI(host="192.0.2.1", port=9999, timeout=0.4).command("show stat")
    assert "tcp://192.0.2.1:9999 did not accept a connection for `show stat` within 0.4s (socket_timeout_s)" in str(
        failed.value
    )


@pytest.mark.parametrize("tcp", [False, True])
def test_a_flooding_socket_is_read_up_to_the_cap_then_refused(peer, tcp):
    fake = peer(flood, tcp)
    started = time.monotonic()
    with pytest.raises(HAProxyError) as failed:
        fake.api(3).command("show stat -1 6 -1")
    assert time.monotonic() - started < 3 + 1
    message = str(failed.value)
    assert fake.where in message and "`show stat -1 6 -1`" in message
    assert f"more than 16 MiB ({_haproxy.MAX_ANSWER_BYTES} bytes" in message


def test_the_cap_leaves_room_for_a_large_show_stat():
    # Some 100 columns of up to 20 characters for 4000 servers: well under the cap.
    assert _haproxy.MAX_ANSWER_BYTES >= 16 * 1024 * 1024 > 100 * 20 * 4000


def test_a_dripping_socket_cannot_stretch_a_command(peer):
    def drip(peer, conn, _command):
        while not peer.stop.is_set():
            conn.sendall(b"x")
            time.sleep(0.05)

    fake = peer(drip)
    started = time.monotonic()
    with pytest.raises(HAProxyError, match=r"within 0\.5s \(socket_timeout_s; \d+ bytes came\)"):
        fake.api(0.5).command("show servers state")
    assert time.monotonic() - started < 0.5 + 1


HEADER = "# pxname,svname,status,scur\n"


@pytest.mark.parametrize(
    ("answer", "line", "problem"),
    [
        (HEADER + "web,n1,UP,0\nweb,n2,UP," + "9" * 140000 + "\nweb,BACKEND,UP,0\n\n", "line 3", "field limit"),
        (HEADER + "web,n1,UP,0\nweb,BACKEND,UP,\x000\n\n", "line 3", "a NUL byte"),
    ],
    ids=["a field over 128 KiB", "a NUL byte"],
)
def test_damaged_stat_csv_names_the_command_the_line_and_the_problem(peer, answer, line, problem):
    fake = peer(answering(answer))
    api = fake.api(2)
    for read in (lambda: read_stats(api, ["web"]), lambda: read_stats(api, None), lambda: api.stat_rows("web")):
        with pytest.raises(HAProxyError) as failed:
            read()
        message = str(failed.value)
        assert fake.where in message and "`show stat " in message
        assert f"not readable CSV at {line}: " in message and problem in message
