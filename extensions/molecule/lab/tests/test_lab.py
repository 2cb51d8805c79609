# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab works: 3 nodes on 1.0.0 behind HAProxy, traffic flows, and an undrained stop hurts."""

import time

import labtools
import pytest

testinfra_hosts = [f"podman://{name}" for name in labtools.NODES]


def test_node_runs_release_100(host):
    versions = host.run(f"{labtools.APP_ROOT}/current/bin/{labtools.APP} versions")
    assert versions.rc == 0, versions.stderr
    assert "1.0.0" in versions.stdout
    assert "permanent" in versions.stdout
    answer = host.run(
        "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').read().decode())\""
    )
    assert '"version":"1.0.0"' in answer.stdout.replace(" ", "")


def test_cookie_is_private(host):
    cookie = host.file("/root/.erlang.cookie")
    assert cookie.mode == 0o400
    assert cookie.user == "root"


@pytest.fixture(scope="module")
def steady_load():
    labtools.wait_servers_up()
    return labtools.run_load(10, "--seed", "1")


def test_all_nodes_answer_100_through_haproxy(steady_load):
    assert steady_load["failed"] == 0, steady_load["first_failures"]
    assert steady_load["requests"] > 100
    assert set(steady_load["versions"]) == {"1.0.0"}
    assert len(steady_load["nodes"]) == 3
    assert steady_load["slow_requests"] > 0


def test_admin_sockets_unix_and_tcp():
    rows = labtools.backend_servers()
    assert {rows[n]["status"] for n in labtools.NODES} == {"UP"}
    unix = labtools.podman_exec(
        labtools.LB,
        "python3",
        "-c",
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock');"
        "s.sendall(b'show servers state beam_nodes\\n'); print(s.makefile().read())",
    )
    for name in labtools.NODES:
        assert name in unix.stdout


def test_stop_without_drain_loses_requests():
    """The lab must be able to fail: stopping a serving node cuts its slow requests off."""
    victim = labtools.NODES[2]
    load = labtools.BackgroundLoad(12, "--slow-ratio", "0.5", "--seed", "2")
    try:
        time.sleep(3)
        labtools.node_script(victim, "stop")
        time.sleep(2)
    finally:
        summary = load.stop()
        labtools.node_script(victim, "daemon")
        labtools.wait_servers_up()
    assert summary["failed"] > 0, summary
    assert summary["ok"] > 0
