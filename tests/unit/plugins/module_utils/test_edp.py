# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_edp: the external term format both ways, the handshake against a real node (a wrong cookie, a
wrong name), rpc with output and with a timeout, and ticks answered while waiting."""

from __future__ import annotations

import secrets
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _edp
from ansible_collections.beamops.deploy.plugins.module_utils._dist import epmd_names
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import Atom, Opaque

SHORT = socket.gethostname().split(".")[0]


def erl_decodes(data: bytes) -> str:
    """What a real erl makes of the bytes: binary_to_term, printed with ~w."""
    program = f'io:format("~w", [binary_to_term(<<{",".join(str(b) for b in data)}>>)]), halt().'
    return subprocess.run(
        ["erl", "-noshell", "-noinput", "-eval", program], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_terms_decode_as_the_printed_reader_reads_them():
    term = (Atom("ok"), "1.2.0", [1, 2, 300], [], b"bin", {Atom("k"): -5}, 2**70, -(2**31), 1.5, "\n\t")
    data = _edp.encode(term)
    assert _edp.decode(data) == (term, len(data))
    decoded = _edp.decode(data)[0]
    assert isinstance(decoded[0], Atom) and not isinstance(decoded[1], Atom)
    # a list of codes ~p would not print as a string stays a list; an empty one too
    assert _edp.decode(_edp.encode([7, 200]))[0] == [7, 200]
    # beyond latin-1: sent as a list of codes, which ~p prints as a list too
    assert _edp.decode(_edp.encode("Ωmega"))[0] == [937, 109, 101, 103, 97]


@pytest.mark.skipif(not shutil.which("erl"), reason="needs erl")
def test_a_real_erl_reads_what_we_encode():
    data = _edp.encode((Atom("ok"), "1.2.0", [1, 2, 300], [], b"bin", {Atom("k"): -5}, 2**70, -(2**31), 1.5))
    assert erl_decodes(data) == (
        "{ok,[49,46,50,46,48],[1,2,300],[],<<98,105,110>>,#{k => -5},1180591620717411303424,-2147483648,1.5}"
    )


def test_pids_and_refs_travel_back_unchanged_and_pids_print_as_local():
    pid = _edp.Pid("app@host", 44, 0, 7)
    ref = _edp.Ref("app@host", 7, [1, 2, 3])
    back, _end = _edp.decode(_edp.encode((pid, ref)))
    assert back == ("<0.44.0>", ref) and isinstance(back[0], _edp.Pid) and back[0].creation == 7
    assert _edp.encode(back) == _edp.encode((pid, ref))
    assert isinstance(back[1], Opaque)


def test_a_truncated_or_unknown_term_is_a_protocol_error():
    with pytest.raises(_edp.ProtocolError, match="ends early"):
        _edp.decode(_edp.encode("abcdef")[:-2])
    with pytest.raises(_edp.ProtocolError, match="tag 200"):
        _edp.decode(b"\x83\xc8")
    with pytest.raises(_edp.ProtocolError, match="version byte"):
        _edp.decode(b"\x00")


def test_ticks_are_answered_while_waiting_for_the_reply():
    ours, theirs = socket.socketpair()
    conn = _edp.Connection(ours, f"ctl@{SHORT}", 1, f"app@{SHORT}")
    answered = []

    def node():
        request = theirs.recv(65536)
        (_size,) = struct.unpack(">I", request[:4])
        control, pos = _edp.decode(request, 5)
        message = _edp.decode(request, pos)[0]
        _tag, (_pid, ref), _call = message
        theirs.sendall(_edp.TICK)  # net_kernel's tick first
        answered.append(theirs.recv(4))
        body = b"p" + _edp.encode((_edp.SEND, Atom(""), control[1])) + _edp.encode((ref, Atom("pong")))
        theirs.sendall(struct.pack(">I", len(body)) + body)

    thread = threading.Thread(target=node)
    thread.start()
    assert conn.rpc("net_adm", "ping", [], 5) == "pong"
    thread.join()
    assert answered == [_edp.TICK]
    theirs.close()
    conn.close()
    assert conn.rpc("erlang", "node", [], 1) == ("badrpc", "nodedown")


@pytest.fixture
def node(real_node, tmp_path):
    cookie = "EDP_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie], tmp_path)
    return name, epmd_names(SHORT)[name], cookie  # real_node's own epmd (ERL_EPMD_PORT)


def test_real_node_rpc_with_output_errors_and_a_timeout(node):
    name, port, cookie = node
    conn = _edp.Connection.connect(SHORT, port, f"{name}@{SHORT}", _edp.own_name(SHORT), cookie, 5)
    assert conn.rpc("erlang", "node", [], 5) == f"{name}@{SHORT}"
    assert conn.rpc("io", "format", ["~p~n", [Atom("x")]], 5) == "ok"  # its output is acknowledged
    failed = conn.rpc("erlang", "error", [Atom("boom")], 5)
    assert failed[:1] == ("badrpc",) and failed[1][:2] == ("EXIT", ("boom", failed[1][1][1]))
    start = time.monotonic()
    assert conn.rpc("timer", "sleep", [3000], 0.3) == ("badrpc", "timeout")
    assert time.monotonic() - start < 2


def test_real_node_refuses_a_wrong_cookie_and_a_wrong_name_is_not_taken(node):
    name, port, cookie = node
    with pytest.raises(_edp.Refused, match="cookie"):
        _edp.Connection.connect(SHORT, port, f"{name}@{SHORT}", _edp.own_name(SHORT), cookie + "x", 5)
    with pytest.raises(_edp.ProtocolError, match=f"is {name}@{SHORT}, not other@{SHORT}"):
        _edp.Connection.connect(SHORT, port, f"other@{SHORT}", _edp.own_name(SHORT), cookie, 5)
