# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member and lb_member_info name the load balancer's admin address admin_host/admin_port and their
times with a unit (_s); the old names (host, port, socket_timeout, wait_timeout, wait_sleep) still work,
with a deprecation warning, until 1.0.0."""

from __future__ import annotations

import pytest

from ansible_collections.beamops.deploy.plugins.modules import lb_member, lb_member_info


def deprecated(result) -> list[str]:
    return [str(d.get("msg", d)) for d in result.get("deprecations", [])]


@pytest.fixture
def tcp(haproxy):
    fake = haproxy(tcp=True)
    return fake, {"admin_host": fake.address[0], "admin_port": fake.address[1]}


def test_the_new_names_reach_the_admin_socket_over_tcp_without_deprecations(tcp, run_module):
    fake, address = tcp
    args = {**address, "socket_timeout_s": 2.0, "server": "node1", "backend": "beam_nodes"}
    drained = run_module(lb_member, {**args, "state": "drain", "wait": True, "wait_timeout_s": 5, "wait_sleep_s": 0.05})
    assert not drained.get("failed"), drained
    assert drained["changed"] and fake.set_commands == ["set server beam_nodes/node1 state drain"]
    assert deprecated(drained) == []
    info = run_module(lb_member_info, {**address, "socket_timeout_s": 2.0, "backend": ["beam_nodes"]})
    assert info["backends"]["beam_nodes"]["out_of_rotation"] == ["node1"] and deprecated(info) == []


@pytest.mark.parametrize("module", [lb_member, lb_member_info])
def test_the_old_names_still_work_and_are_reported_deprecated(tcp, run_module, module):
    fake, address = tcp
    args = {"host": address["admin_host"], "port": address["admin_port"], "socket_timeout": 2.0}
    if module is lb_member:
        args.update(server="node1", state="maint", wait=True, wait_timeout=5, wait_sleep=0.05)
    result = run_module(module, args)
    assert not result.get("failed"), result
    notes = " ".join(deprecated(result))
    old = ["host", "port", "socket_timeout"] + (["wait_timeout", "wait_sleep"] if module is lb_member else [])
    for name in old:
        assert f"Alias '{name}' is deprecated" in notes, notes
    if module is lb_member:
        assert fake.set_commands == ["set server beam_nodes/node1 state maint"]
        assert result["wait_result"] == "drained"


@pytest.mark.parametrize("module", [lb_member, lb_member_info])
def test_a_unix_socket_and_a_tcp_address_together_are_refused(run_module, module):
    args = {"socket": "/run/haproxy/admin.sock", "admin_host": "127.0.0.1", "admin_port": 9999}
    if module is lb_member:
        args.update(server="node1", state="drain")
    result = run_module(module, args)
    assert result["failed"] and "mutually exclusive: socket|admin_host" in result["msg"]


@pytest.mark.parametrize("module", [lb_member, lb_member_info])
def test_an_admin_host_without_its_port_is_refused(run_module, module):
    args = {"admin_host": "127.0.0.1", **({"server": "node1", "state": "drain"} if module is lb_member else {})}
    result = run_module(module, args)
    assert result["failed"] and "parameters are required together: admin_host, admin_port" in result["msg"]


def test_times_are_checked_under_their_new_names(run_module):
    result = run_module(lb_member, {"server": "node1", "state": "drain", "wait_sleep_s": 0})
    assert result["failed"] and "wait_sleep_s must be above 0 and wait_timeout_s at least 0" in result["msg"]
    result = run_module(lb_member, {"server": "node1", "state": "drain", "socket_timeout_s": 0})
    assert result["failed"] and "socket_timeout_s must be above 0, got 0. Nothing was changed." in result["msg"]
    info = run_module(lb_member_info, {"socket_timeout_s": -1})
    assert info["failed"] and info["msg"] == "socket_timeout_s must be above 0, got -1."
