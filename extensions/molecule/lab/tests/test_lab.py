# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab works: 3 nodes on 1.0.0 behind HAProxy and traffic flows. Verify only reads: that the lab
can fail (an undrained stop loses requests) is lb_modules' test_stop_without_drain_loses_requests."""

import labtools
import pytest

testinfra_hosts = [f"podman://{name}" for name in labtools.NODES]


def test_node_runs_release_100(host):
    versions = host.run(f"runuser -u {labtools.APP} -- {labtools.APP_ROOT}/current/bin/{labtools.APP} versions")
    assert versions.rc == 0, versions.stderr
    assert "1.0.0" in versions.stdout
    assert "permanent" in versions.stdout
    answer = host.run(
        "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').read().decode())\""
    )
    assert '"version":"1.0.0"' in answer.stdout.replace(" ", "")


def test_release_runs_as_its_own_user_under_systemd(host):
    """The production path: the node role's unit, the app's own non-root user, its private cookie."""
    assert host.service(labtools.APP).is_running
    assert host.service(labtools.APP).is_enabled
    beam = host.run("ps -o user= -C beam.smp")
    assert beam.stdout.split() == [labtools.APP], beam.stdout
    cookie = host.file(f"/home/{labtools.APP}/.erlang.cookie")
    assert cookie.mode == 0o400
    assert cookie.user == labtools.APP
    assert not host.file("/root/.erlang.cookie").exists
    owners = host.run(f"find -L {labtools.APP_ROOT}/current/ ! -user {labtools.APP}")
    assert owners.rc == 0 and owners.stdout == "", owners.stdout


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
