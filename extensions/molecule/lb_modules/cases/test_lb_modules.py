# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member and health_probe against the real lab, as a user's tasks run them (ad-hoc `ansible`).

Draining under load keeps every request, and a node stopped after its drain loses none, while
the same stop without a drain loses some. The early returns (a DOWN member, a member already UP),
the errors that change nothing, and a flapping service that never passes a probe.
The figures measured are written to .build/figures/<lab>-lb_modules.json (kept after destroy).
"""

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labtools
import pytest

HERE = Path(__file__).resolve().parent
BACKEND = labtools.lab_vars()["lab_haproxy_backend"]
VICTIM = labtools.NODES[2]
# Half of the requests are slow (1-3 s, longer than `bin/<rel> stop` takes to reach the node): a node
# stopped while serving holds some, and cuts them.
LOAD = ("--concurrency", "8", "--slow-ratio", "0.5", "--slow-ms", "1000-3000")
FIGURES, figures = labtools.scenario_figures("lb_modules")


def run_module(host: str, module: str, args: dict, become_user: str | None = None) -> dict:
    """One task as a user runs it: ad-hoc `ansible` on a lab container (or `localhost`, locally)."""
    return labtools.run_module(host, module, args, delegate_local=host == "localhost", become_user=become_user)


def lb_member(args: dict, unix: bool = True) -> dict:
    """The module over the LB's unix socket (task on the LB) or its TCP admin socket (control node)."""
    args = {"backend": BACKEND, **args}
    if unix:
        return run_module(labtools.LB, "beamops.deploy.lb_member", args)
    args.update(admin_host=labtools.ADMIN_ADDR[0], admin_port=labtools.ADMIN_ADDR[1])
    return run_module("localhost", "beamops.deploy.lb_member", args)


def admin_snapshot() -> dict:
    """Independent read of every member's operational state, admin bits and weight."""
    rows = labtools.servers_state(BACKEND)
    return {name: (r["srv_op_state"], r["srv_admin_state"], r["srv_uweight"]) for name, r in rows.items()}


def restore(node: str = VICTIM) -> None:
    """Node running, ready in HAProxy, every member UP: the state each test starts from."""
    if labtools.node_script(node, "ping", check=False).returncode != 0:
        labtools.start_node(node)
    ready = lb_member({"server": node, "state": "ready", "wait": True, "wait_timeout_s": 60})
    assert ready["wait_result"] == "up", ready
    labtools.wait_servers_up()


def wait_status(node: str, word: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = labtools.backend_servers(BACKEND)[node]
        if row["status"].split(" ")[0] == word or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def test_ready_of_a_member_already_up_returns_at_once():
    labtools.wait_servers_up()
    started = time.monotonic()
    result = lb_member({"server": VICTIM, "state": "ready", "wait": True, "wait_sleep_s": 5})
    assert not result["changed"] and result["wait_result"] == "up", result
    assert result["waited"] < 0.5
    FIGURES["ready_already_up"] = {"waited_s": result["waited"], "ansible_run_s": round(time.monotonic() - started, 2)}


def test_drain_under_load_then_stop_loses_nothing():
    labtools.wait_servers_up()
    load = labtools.BackgroundLoad(40, *LOAD, "--seed", "11")
    try:
        time.sleep(3)
        drained = lb_member({"server": VICTIM, "state": "drain", "wait": True, "wait_timeout_s": 30})
        row = labtools.backend_servers(BACKEND)[VICTIM]
        labtools.stop_node(VICTIM)
        time.sleep(3)
    finally:
        summary = load.stop()
        restore()
    assert drained["changed"] and drained["wait_result"] == "drained", drained
    assert drained["sessions"] == 0 and drained["queue"] == 0
    # What HAProxy says right after the module returned, read independently.
    assert (row["status"], row["scur"], row["qcur"]) == ("DRAIN", "0", "0"), row
    assert summary["failed"] == 0, summary["first_failures"]
    assert any(name.endswith(f"@{VICTIM}") for name in summary["nodes"]), summary["nodes"]
    FIGURES["drain_under_load"] = {
        "requests": summary["requests"],
        "failed": summary["failed"],
        "sessions_when_drain_began": drained["members"][0]["before"]["sessions"],
        "sessions_at_return": drained["sessions"],
        "queue_at_return": drained["queue"],
        "haproxy_scur_after_return": int(row["scur"]),
        "waited_s": drained["waited"],
    }


def test_stop_without_drain_loses_requests():
    labtools.wait_servers_up()
    load = labtools.BackgroundLoad(40, *LOAD, "--seed", "11")
    try:
        time.sleep(3)
        deadline = time.monotonic() + 5
        while int(labtools.backend_servers(BACKEND)[VICTIM]["scur"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        scur = int(labtools.backend_servers(BACKEND)[VICTIM]["scur"])
        labtools.stop_node(VICTIM)
        time.sleep(3)
    finally:
        summary = load.stop()
        restore()
    assert summary["failed"] > 0, summary
    FIGURES["stop_without_drain"] = {
        "requests": summary["requests"],
        "failed": summary["failed"],
        "errors": summary["errors"],
        "sessions_when_stopped": scur,
    }


def test_drain_of_a_down_member_returns_at_once_and_ready_waits_for_up():
    labtools.wait_servers_up()
    try:
        labtools.stop_node(VICTIM)
        assert wait_status(VICTIM, "DOWN")["status"] == "DOWN"
        down = lb_member({"server": VICTIM, "state": "drain", "wait": True, "wait_timeout_s": 60}, unix=False)
        # Ready while the node is still down: the module waits; the node starts meanwhile.
        ready = {"server": VICTIM, "state": "ready", "wait": True, "wait_timeout_s": 60}
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(lb_member, ready, False)
            time.sleep(4)
            labtools.start_node(VICTIM)
            up = waiting.result(timeout=90)
    finally:
        restore()
    assert down["changed"] and down["wait_result"] == "member_down", down
    assert down["waited"] < 1 and down["members"][0]["after"]["status"] == "DOWN"
    assert up["changed"] and up["wait_result"] == "up" and up["members"][0]["after"]["status"] == "UP", up
    assert up["waited"] > 0.5 and up["members"][0]["before"]["status"] == "DOWN"
    FIGURES["down_member"] = {"drain_waited_s": down["waited"], "ready_after_restart_waited_s": up["waited"]}


def test_unknown_backend_server_or_socket_changes_nothing():
    labtools.wait_servers_up()
    before = admin_snapshot()
    known = labtools.NODES[0]
    results = {
        "backend": lb_member({"server": known, "backend": [BACKEND, "no_such_backend"], "state": "maint"}),
        "server": lb_member({"server": "no_such_server", "state": "maint"}, unix=False),
        "unix_socket": lb_member({"server": known, "state": "maint", "socket": "/run/haproxy/none.sock"}),
        "tcp_socket": run_module(
            "localhost",
            "beamops.deploy.lb_member",
            {"admin_host": "127.0.0.1", "admin_port": 1, "server": known, "state": "maint"},
        ),
    }
    assert admin_snapshot() == before
    for result in results.values():
        assert result["failed"] and not result["changed"], result
    assert "Backend 'no_such_backend' not found" in results["backend"]["msg"]
    assert f"Server 'no_such_server' not found in backend '{BACKEND}'" in results["server"]["msg"]
    assert "/run/haproxy/none.sock does not exist" in results["unix_socket"]["msg"]
    assert "tcp://127.0.0.1:1" in results["tcp_socket"]["msg"] and "refused" in results["tcp_socket"]["msg"]
    FIGURES["errors"] = {k: v["msg"] for k, v in results.items()}


@pytest.fixture
def flapping_service():
    """flapping_http.py on the LB container's loopback; stopped by its own pid afterwards."""
    port = 8099
    subprocess.run(["podman", "cp", str(labtools.LAB_DIR / "flapping_http.py"), f"{labtools.LB}:/tmp/"], check=True)
    subprocess.run(
        ["podman", "exec", "-d", labtools.LB, "python3", "/tmp/flapping_http.py", str(port), "120"], check=True
    )
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()"
    for _ in range(50):
        if labtools.podman_exec(labtools.LB, "python3", "-c", probe, check=False).returncode == 0:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"
    labtools.podman_exec(labtools.LB, "sh", "-c", "kill $(cat /tmp/flapping_http.pid)", check=False)


def test_probe_of_a_flapping_service_never_reaches_three_successes(flapping_service):
    args = {"kind": "http", "url": flapping_service, "successes": 3, "retries": 5, "interval_s": 0.2, "timeout_s": 60}
    result = run_module(labtools.LB, "beamops.deploy.health_probe", args)
    assert result["failed"] and not result["changed"], result
    assert result["failures"] == 6 and result["attempts"] in (11, 12), result
    assert result["successes"] <= 1 and "HTTP 500" in result["last_error"]
    assert f"after {result['attempts']} attempts" in result["msg"]
    FIGURES["flapping_probe"] = {k: result[k] for k in ("attempts", "failures", "successes", "last_error", "elapsed")}


def test_beam_probe_of_a_stopped_node_fails_naming_it():
    node = labtools.NODES[1]
    args = {"kind": "beam", "release_root": labtools.APP_ROOT, "release_name": labtools.APP, "retries": 1}
    try:
        labtools.stop_node(node)
        result = run_module(
            node, "beamops.deploy.health_probe", dict(args, interval_s=0.2), become_user=labtools.app_user(node)
        )
    finally:
        restore(node)
    assert result["failed"] and result["attempts"] == 2, result
    # It names the node and says why: epmd answers but knows no such node (the release is stopped).
    assert f"node {labtools.APP}@{node}" in result["last_error"]
    assert "has no node named" in result["last_error"] and "not running" in result["last_error"], result
