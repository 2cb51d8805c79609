# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member, lb_member_info and lb_stats against admin sockets that never answer, flood, or send damaged
CSV: each call ends within socket_timeout_s + 1 s, with a message naming the socket and what to do."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import MAX_ANSWER_BYTES
from ansible_collections.beamops.deploy.plugins.modules import lb_member, lb_member_info, lb_stats


class HostileSocket:
    """A unix socket whose every connection behave(stop, conn) handles, after reading the command."""

    def __init__(self, behave):
        self.stop = threading.Event()
        self.dir = tempfile.mkdtemp(prefix="hhost", dir="/tmp")
        self.path = os.path.join(self.dir, "admin.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.conns: list[socket.socket] = []

        def handle(conn):
            try:
                conn.recv(4096)
                behave(self.stop, conn)
            except OSError:
                pass  # the module gave up
            finally:
                conn.close()

        def serve():
            while not self.stop.is_set():
                try:
                    conn, _addr = self.listener.accept()
                except OSError:
                    continue
                self.conns.append(conn)
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def close(self):
        self.stop.set()
        self.listener.close()
        for conn in self.conns:
            conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def hostile():
    made = []

    def make(behave):
        made.append(HostileSocket(behave))
        return made[-1]

    yield make
    for one in made:
        one.close()


def silent(stop, _conn):
    stop.wait(10)


def flood(stop, conn):
    block = b"# pxname,svname\n" + b"x" * 65520
    while not stop.is_set():
        conn.sendall(block)


MODULES = [
    (lb_member, {"server": "node1", "backend": "web", "state": "drain"}),
    (lb_member_info, {"backend": "web"}),
    (lb_stats, {"backend": "web"}),
    (lb_stats, {"window_s": 5}),
]
IDS = ["lb_member", "lb_member_info", "lb_stats", "lb_stats window"]


@pytest.mark.parametrize(("module", "args"), MODULES, ids=IDS)
def test_a_silent_admin_socket_ends_at_socket_timeout_s(hostile, run_module, module, args):
    peer = hostile(silent)
    started = time.monotonic()
    result = run_module(module, dict(args, socket=peer.path, socket_timeout_s=0.5))
    assert time.monotonic() - started < 0.5 + 1
    assert result["failed"] and not result.get("changed")
    assert f"HAProxy admin socket {peer.path} did not finish answering `show " in result["msg"]
    assert "within 0.5s (socket_timeout_s; 0 bytes came)" in result["msg"] and "raise socket_timeout_s" in result["msg"]


@pytest.mark.parametrize(("module", "args"), MODULES, ids=IDS)
def test_a_flooding_admin_socket_is_cut_at_the_cap(hostile, run_module, module, args):
    peer = hostile(flood)
    started = time.monotonic()
    result = run_module(module, dict(args, socket=peer.path, socket_timeout_s=3))
    assert time.monotonic() - started < 3 + 1
    assert result["failed"] and not result.get("changed")
    assert f"HAProxy admin socket {peer.path} sent more than 16 MiB ({MAX_ANSWER_BYTES} bytes" in result["msg"]
    assert "for `show " in result["msg"] and "reading stopped" in result["msg"]


@pytest.mark.parametrize("args", [{"backend": "web"}, {}], ids=["one backend", "every backend"])
def test_lb_stats_names_the_command_and_line_of_damaged_csv(hostile, run_module, args):
    def oversized(_stop, conn):
        conn.sendall(b"# pxname,svname,status\nweb,BACKEND,UP\nweb,n1," + b"U" * 200000 + b"\n\n")

    peer = hostile(oversized)
    result = run_module(lb_stats, dict(args, socket=peer.path))
    assert result["failed"]
    assert f"The answer of the HAProxy admin socket {peer.path} to `show stat " in result["msg"]
    assert "is not readable CSV at line 3: field larger than field limit (131072)" in result["msg"]
