# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_info's cluster facts from real erl nodes connected to each other: the peers a node is connected to,
the release each runs, the peers it misses, and an application's readiness answer on every member."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._cluster import judge
from ansible_collections.beamops.deploy.plugins.module_utils._dist import epmd_names
from ansible_collections.beamops.deploy.plugins.modules import release_info

pytestmark = pytest.mark.skipif(not (shutil.which("erl") and shutil.which("epmd")), reason="needs erl and epmd")

SHORT = socket.gethostname().split(".")[0]
COOKIE = "CLUSTERCOOKIE_0c41"


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    """Three erl nodes with sasl (release_handler answers), a and b connected, c alone; a release root naming a."""
    port = _free_port()
    monkeypatch.setenv("ERL_EPMD_PORT", str(port))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    tag = secrets.token_hex(2)
    names = {k: f"cl_{k}_{tag}" for k in "abc"}
    procs = [subprocess.Popen(["epmd", "-port", str(port)], stderr=subprocess.DEVNULL)]
    try:  # the nodes go whatever happens, a failed start included
        yield _start(tmp_path, port, names, procs)
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()


def _start(tmp_path, port: int, names: dict[str, str], procs: list) -> tuple:
    for key in "abc":
        argv = ["erl", "-noshell", "-noinput", "-boot", "start_sasl", "-sname", names[key], "-setcookie", COOKIE]
        if key == "b":
            # a may not run yet: b tries again until it does (10 s at most).
            connect = (
                f"Try = fun T(0) -> false; T(N) -> case net_kernel:connect_node('{names['a']}@{SHORT}') of "
                "true -> true; false -> timer:sleep(200), T(N - 1) end end, true = Try(50)"
            )
            argv += ["-eval", connect]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 30
    while not set(names.values()) <= set(_registered(port)):
        assert time.monotonic() < deadline, "the nodes did not start"
        time.sleep(0.2)
    time.sleep(1.0)  # b's connect to a, once both run
    root = tmp_path / "rel"
    for folder in ("bin", "releases/1.0.0"):
        (root / folder).mkdir(parents=True)
    (root / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.0.0"\n')
    (root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    (root / "releases" / "1.0.0" / "vm.args").write_text(f"-sname {names['a']}\n-setcookie {COOKIE}\n")
    return root, {k: f"{v}@{SHORT}" for k, v in names.items()}


def _registered(port: int) -> list[str]:
    try:
        return list(epmd_names("127.0.0.1", port, timeout=1))
    except OSError:  # epmd not listening yet
        return []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_cluster_as_a_node_sees_it(cluster, run_module):
    root, nodes = cluster
    args = {"name": "app", "root": str(root), "cluster": True, "cluster_peers": list(nodes.values())}
    facts = run_module(release_info, args | {"cluster_ready": "{erlang, is_alive, []}"})["cluster"]
    assert facts["node"] == nodes["a"] and facts["connected"] == [nodes["b"]], facts
    assert facts["missing"] == [nodes["c"]] and facts["expected"] == sorted([nodes["b"], nodes["c"]])
    assert facts["versions"][nodes["b"]] not in ("none", "") and not facts["versions"][nodes["b"]].startswith("unknown")
    assert facts["ready"] == {nodes["a"]: True, nodes["b"]: True} and facts["ready_failures"] == {}

    # A readiness check that does not hold on a member names it, with what it answered.
    notyet = run_module(release_info, args | {"cluster_ready": "{erlang, whereis, [no_such_process]}"})["cluster"]
    assert notyet["ready"] == {nodes["a"]: False, nodes["b"]: False}
    assert notyet["ready_failures"][nodes["b"]] == "undefined"


def test_a_readiness_check_that_is_no_mfa_is_refused(cluster, run_module):
    root, _nodes = cluster
    result = run_module(release_info, {"name": "app", "root": str(root), "cluster": True, "cluster_ready": "ok"})
    assert result.get("failed") and "cluster_ready 'ok' is not an Erlang term {Module, Function, Args}" in result["msg"]


def test_the_wait_for_a_peer_to_rejoin(cluster, run_module, tmp_path):
    root, nodes = cluster
    args = {"name": "app", "root": str(root), "cluster": True, "cluster_peers": list(nodes.values())}
    # c never joins: the last view after the wait, not whole, naming the peer.
    alone = run_module(release_info, args | {"cluster_wait_s": 2})["cluster"]
    assert not alone["whole"] and alone["waited_s"] >= 1, alone
    assert alone["why"] == f"{nodes['a']} is not connected to {nodes['c']}"

    # c joins a while release_info waits (a helper node asks c to connect to a, 2 s in).
    short = nodes["c"].split("@")[0].replace("cl_c_", "cl_x_")
    joiner = subprocess.Popen(
        [
            "erl",
            "-noshell",
            "-noinput",
            "-sname",
            short,
            "-setcookie",
            COOKIE,
            "-hidden",
            "-eval",
            f"timer:sleep(2000), true = rpc:call('{nodes['c']}', net_kernel, connect_node, ['{nodes['a']}']), "
            "init:stop()",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        joined = run_module(release_info, args | {"cluster_wait_s": 20})["cluster"]
        assert joined["whole"] and joined["why"] == "" and joined["missing"] == [], joined
        assert 1 <= joined["waited_s"] < 20, joined
        assert nodes["c"] in joined["connected"]
    finally:
        joiner.kill()
        joiner.wait()


def test_a_leaving_node_is_judged_by_the_peers_that_stay():
    facts = {"node": "a@h", "missing": [], "ready_failures": {"a@h": "syncing"}}
    assert judge(facts, leaving=True)["whole"]
    staying = judge(facts)
    assert not staying["whole"] and staying["why"] == "the readiness check fails on a@h (a@h answered syncing)"
    peers_down = judge({"node": "a@h", "missing": ["c@h"], "ready_failures": {"b@h": "false"}}, leaving=True)
    assert peers_down["why"] == "a@h is not connected to c@h; the readiness check fails on b@h (b@h answered false)"
