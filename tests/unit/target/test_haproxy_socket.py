# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy's runtime API against hostile peers (module_utils/_haproxy.py, run on load balancers): a
socket that never answers, one that floods, answers that are damaged CSV. Standard library only, so
that it runs under every Python a target may have (3.8: socket.timeout is no TimeoutError there)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _haproxy
from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import HAProxyError, RuntimeAPI, read_stats


def api(fake, timeout: float) -> RuntimeAPI:
    """A client of the peer's socket (the root conftest's Peer: a unix socket's path, or a TCP address)."""
    if isinstance(fake.address, str):
        return RuntimeAPI(socket_path=fake.address, timeout=timeout)
    host, port = fake.address
    return RuntimeAPI(host=host, port=port, timeout=timeout)


def refusal(fake, timeout: float, command: str) -> str:
    """The message of the HAProxyError that `command` sent to the peer ends in: it must come within
    timeout + 1 s and name the socket and the command."""
    started = time.monotonic()
    with pytest.raises(HAProxyError) as failed:
        api(fake, timeout).command(command)
    assert time.monotonic() - started < timeout + 1
    message = str(failed.value)
    assert fake.where in message and f"`{command}`" in message
    return message


def answering(text: str):
    def behave(_peer, conn, _command):
        conn.sendall(text.encode())

    return behave


@pytest.mark.parametrize("tcp", [False, True])
def test_a_silent_socket_ends_at_socket_timeout_s_naming_the_option(peer, tcp):
    message = refusal(peer(peer.silent, tcp), 0.4, "show servers state")
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
    message = refusal(peer(peer.flooding(b"be,srv," + b"x" * 65529), tcp), 3, "show stat -1 6 -1")
    assert f"more than 16 MiB ({_haproxy.MAX_ANSWER_BYTES} bytes" in message


def test_the_cap_leaves_room_for_a_large_show_stat():
    # Some 100 columns of up to 20 characters for 4000 servers: well under the cap.
    assert _haproxy.MAX_ANSWER_BYTES >= 16 * 1024 * 1024 > 100 * 20 * 4000


def test_a_dripping_socket_cannot_stretch_a_command(peer):
    def drip(peer, conn, _command):
        while not peer.stop.is_set():
            conn.sendall(b"x")
            time.sleep(0.05)

    message = refusal(peer(drip), 0.5, "show servers state")
    assert re.search(r"within 0\.5s \(socket_timeout_s; \d+ bytes came\)", message)


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
    client = api(fake, 2)
    for read in (
        lambda: read_stats(client, ["web"]),
        lambda: read_stats(client, None),
        lambda: client.stat_rows("web"),
    ):
        with pytest.raises(HAProxyError) as failed:
            read()
        message = str(failed.value)
        assert fake.where in message and "`show stat " in message
        assert f"not readable CSV at {line}: " in message and problem in message
