# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member, lb_member_info and lb_stats against admin sockets that never answer, flood, or send damaged
CSV: each call ends within socket_timeout_s + 1 s, with a message naming the socket and what to do."""

from __future__ import annotations

import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import MAX_ANSWER_BYTES
from ansible_collections.beamops.deploy.plugins.modules import lb_member, lb_member_info, lb_stats

MODULES = [
    (lb_member, {"server": "node1", "backend": "web", "state": "drain"}),
    (lb_member_info, {"backend": "web"}),
    (lb_stats, {"backend": "web"}),
    (lb_stats, {"window_s": 5}),
]
IDS = ["lb_member", "lb_member_info", "lb_stats", "lb_stats window"]


def failure(run_module, module, args, hostile, timeout: float) -> str:
    """The msg of the module's failure against the hostile socket: it must come within socket_timeout_s + 1 s
    and change nothing."""
    started = time.monotonic()
    result = run_module(module, dict(args, socket=hostile.where, socket_timeout_s=timeout))
    assert time.monotonic() - started < timeout + 1
    assert result["failed"] and not result.get("changed")
    return result["msg"]


@pytest.mark.parametrize(("module", "args"), MODULES, ids=IDS)
def test_a_silent_admin_socket_ends_at_socket_timeout_s(peer, run_module, module, args):
    hostile = peer(peer.silent)
    msg = failure(run_module, module, args, hostile, 0.5)
    assert f"HAProxy admin socket {hostile.where} did not finish answering `show " in msg
    assert "within 0.5s (socket_timeout_s; 0 bytes came)" in msg and "raise socket_timeout_s" in msg


@pytest.mark.parametrize(("module", "args"), MODULES, ids=IDS)
def test_a_flooding_admin_socket_is_cut_at_the_cap(peer, run_module, module, args):
    hostile = peer(peer.flooding(b"# pxname,svname\n" + b"x" * 65520))
    msg = failure(run_module, module, args, hostile, 3)
    assert f"HAProxy admin socket {hostile.where} sent more than 16 MiB ({MAX_ANSWER_BYTES} bytes" in msg
    assert "for `show " in msg and "reading stopped" in msg


@pytest.mark.parametrize("args", [{"backend": "web"}, {}], ids=["one backend", "every backend"])
def test_lb_stats_names_the_command_and_line_of_damaged_csv(peer, run_module, args):
    def oversized(_peer, conn, _command):
        conn.sendall(b"# pxname,svname,status\nweb,BACKEND,UP\nweb,n1," + b"U" * 200000 + b"\n\n")

    hostile = peer(oversized)
    result = run_module(lb_stats, dict(args, socket=hostile.where))
    assert result["failed"]
    assert f"The answer of the HAProxy admin socket {hostile.where} to `show stat " in result["msg"]
    assert "is not readable CSV at line 3: field larger than field limit (131072)" in result["msg"]
