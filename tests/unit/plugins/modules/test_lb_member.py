# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member end to end against a fake HAProxy on a temporary unix socket: the edge cases the lab
cannot stage on demand (sessions that never end, a socket below admin level, several backends)."""

from __future__ import annotations

import json
import time

import pytest

from ansible_collections.beamops.deploy.plugins.modules import lb_member


@pytest.fixture
def lb(haproxy, run_module):
    """lb(backends) -> (fake, run(**args)) with the socket already set."""

    def make(backends=None):
        fake = haproxy(backends)

        def run(**args):
            args.setdefault("socket", fake.address)
            args.setdefault("wait_sleep_s", 0.05)
            return run_module(lb_member, args)

        return fake, run

    return make


def test_check_mode_apply_rerun(lb):
    fake, run = lb()
    checked = run(server="node1", backend="beam_nodes", state="drain", _ansible_check_mode=True, _ansible_diff=True)
    assert checked["changed"] and fake.set_commands == []
    assert checked["diff"]["before"] == {"beam_nodes/node1": {"state": "ready", "weight": 1}}
    assert checked["diff"]["after"] == {"beam_nodes/node1": {"state": "drain", "weight": 1}}
    applied = run(server="node1", backend="beam_nodes", state="drain")
    assert applied["changed"] and fake.set_commands == ["set server beam_nodes/node1 state drain"]
    assert applied["members"][0]["after"]["status"] == "DRAIN"
    again = run(server="node1", backend="beam_nodes", state="drain")
    assert not again["changed"] and len(fake.set_commands) == 1


def test_drain_waits_for_sessions_and_queue(lb, fake_server):
    _fake, run = lb({"beam_nodes": {"node1": fake_server(scur=[4, 4, 3, 1, 0])}})
    result = run(server="node1", backend="beam_nodes", state="drain", wait=True, wait_timeout_s=10)
    assert result["wait_result"] == "drained" and result["sessions"] == 0 and result["queue"] == 0
    assert result["waited"] > 0 and result["members"][0]["before"]["sessions"] == 4


def test_a_drain_lost_while_waiting_is_set_again_and_waited_for(lb, fake_server):
    member = fake_server(scur=[4, 3, 0])

    class Reloaded(type(member)):
        """An HAProxy reload half way through the wait: the runtime drain state is forgotten once."""

        reloaded = False

        def read_scur(self):
            if not self.reloaded and len(self.scur) == 2:
                self.reloaded, self.admin = True, 0
            return super().read_scur()

    member.__class__ = Reloaded
    fake, run = lb({"beam_nodes": {"node1": member}})
    result = run(server="node1", backend="beam_nodes", state="drain", wait=True, wait_timeout_s=10)
    assert member.reloaded and result["changed"] and result["wait_result"] == "drained"
    assert result["reapplied"] == ["beam_nodes/node1"]
    assert fake.set_commands == ["set server beam_nodes/node1 state drain"] * 2
    assert result["members"][0]["after"]["status"] == "DRAIN"
    assert "lost its drain state" in json.dumps(result["warnings"])


def test_drain_of_a_down_member_returns_at_once(lb, fake_server):
    _fake, run = lb({"beam_nodes": {"node1": fake_server(op=0, check_result=2, scur=3)}})
    started = time.monotonic()
    result = run(server="node1", backend="beam_nodes", state="drain", wait=True, wait_timeout_s=30, wait_sleep_s=5)
    assert time.monotonic() - started < 2
    assert result["wait_result"] == "member_down" and result["waited"] < 0.5
    assert result["members"][0]["after"]["status"] == "DOWN" and result["sessions"] == 3


def test_ready_of_a_member_already_up_returns_at_once(lb):
    _fake, run = lb()
    started = time.monotonic()
    result = run(server="node1", backend="beam_nodes", state="ready", wait=True, wait_sleep_s=5)
    assert time.monotonic() - started < 2
    assert not result["changed"] and result["wait_result"] == "up" and result["waited"] < 0.5


def test_drain_timeout_fails_and_says_the_member_stays_drained(lb, fake_server):
    _fake, run = lb({"beam_nodes": {"node1": fake_server(scur=2, qcur=1)}})
    result = run(server="node1", backend="beam_nodes", state="drain", wait=True, wait_timeout_s=0.3)
    assert result["failed"] and result["changed"]
    assert "beam_nodes/node1: status DRAIN, 2 sessions, 1 queued" in result["msg"]
    assert "stays in drain" in result["msg"]
    assert (result["sessions"], result["queue"]) == (2, 1) and result["waited"] >= 0.3


def test_shutdown_sessions_after_the_timeout(lb, fake_server):
    fake, run = lb({"beam_nodes": {"node1": fake_server(scur=2)}})
    result = run(
        server="node1", backend="beam_nodes", state="drain", wait=True, wait_timeout_s=0.3, shutdown_sessions=True
    )
    assert result["wait_result"] == "sessions_shut_down" and result["sessions"] == 0
    assert fake.set_commands[-1] == "shutdown sessions server beam_nodes/node1"
    assert "were cut" in json.dumps(result["warnings"])


def test_unknown_backend_or_server_changes_nothing(lb):
    fake, run = lb()
    result = run(server="node1", backend=["beam_nodes", "nope"], state="maint")
    assert result["failed"] and not result["changed"] and "Backend 'nope' not found" in result["msg"]
    result = run(server="ghost", backends=["beam_nodes"], state="maint")
    assert result["failed"] and "Server 'ghost' not found in backend 'beam_nodes'" in result["msg"]
    result = run(server="ghost", state="maint")
    assert result["failed"] and "'ghost' is in no backend" in result["msg"]
    assert fake.set_commands == []


def test_member_of_several_backends_weight_then_state(lb, fake_server):
    fake, run = lb({"http": {"n1": fake_server(admin=1)}, "ws": {"n1": fake_server(admin=1)}, "x": {}})
    result = run(server="n1", state="ready", weight=10, wait=True)
    assert [m["backend"] for m in result["members"]] == ["http", "ws"]
    assert fake.set_commands == [
        "set server http/n1 weight 10",
        "set server http/n1 state ready",
        "set server ws/n1 weight 10",
        "set server ws/n1 state ready",
    ]
    assert {m["after"]["weight"] for m in result["members"]} == {10}
    assert result["wait_result"] == "up"


def test_weight_alone_and_its_bounds(lb):
    _fake, run = lb()
    result = run(server="node2", backend="beam_nodes", weight=0)
    assert result["changed"] and result["wait_result"] == "not_requested"
    assert result["members"][0]["after"] == dict(result["members"][0]["before"], weight=0)
    result = run(server="node2", backend="beam_nodes", weight=257)
    assert result["failed"] and "between 0 and 256" in result["msg"]


def test_socket_below_admin_level_changes_nothing(lb):
    fake, run = lb()
    fake.level = "operator"
    result = run(server="node1", backend="beam_nodes", state="drain")
    assert result["failed"] and "not at admin level" in result["msg"]
    assert fake.set_commands == []


def test_unreachable_socket_is_named(run_module, tmp_path):
    result = run_module(lb_member, {"socket": str(tmp_path / "gone.sock"), "server": "n", "state": "drain"})
    assert result["failed"] and "gone.sock" in result["msg"] and "does not exist" in result["msg"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("backend", "beam_nodes;set server beam_nodes/node1 state maint"),
        ("server", "node1;set server beam_nodes/node2 state maint"),
        ("server", "node1\nset server beam_nodes/node2 state maint"),
        ("backend", "beam nodes"),
    ],
)
def test_names_that_would_inject_a_command_are_refused_even_in_check_mode(lb, option, value):
    fake, run = lb()
    args = {"server": "node1", "backend": "beam_nodes", "state": "drain", "_ansible_check_mode": True}
    result = run(**dict(args, **{option: value}))
    assert result["failed"] and not result["changed"]
    assert f"Invalid {option}" in result["msg"] and "letters, digits and - _ . :" in result["msg"]
    assert fake.commands == [] and fake.set_commands == []
    assert all(srv.admin == 0 for srv in fake.backends["beam_nodes"].values())


@pytest.mark.parametrize("port", [0, 65536, 99999, -1])
def test_tcp_port_outside_1_to_65535_is_refused(run_module, port):
    result = run_module(lb_member, {"admin_host": "127.0.0.1", "admin_port": port, "server": "n", "state": "drain"})
    assert result["failed"] and "admin_port must be between 1 and 65535" in result["msg"] and str(port) in result["msg"]


@pytest.mark.parametrize("status", ["UP 1/3", "NOLB 1/3", "DOWN 1/2", "DRAIN 1/3"])
def test_ready_wait_does_not_count_a_transitional_status_as_up(lb, fake_server, status):
    _fake, run = lb({"beam_nodes": {"node1": fake_server(shown=status)}})
    result = run(server="node1", backend="beam_nodes", state="ready", wait=True, wait_timeout_s=0.3)
    assert result["failed"] and "timed out" in result["msg"] and f"status {status}" in result["msg"]


def test_a_dripping_socket_is_bounded_by_socket_timeout(lb):
    fake, run = lb()
    fake.drip = 0.05  # `show servers state` is some 600 bytes: 30 s at this pace
    started = time.monotonic()
    result = run(server="node1", backend="beam_nodes", state="drain", socket_timeout_s=0.5)
    assert time.monotonic() - started < 2
    assert result["failed"] and "within 0.5s" in result["msg"] and not result["changed"]
    assert "or raise socket_timeout_s." in result["msg"]  # the option's name, as documented


def test_a_state_refused_after_the_weight_was_set_reports_the_change_and_fails(lb):
    """HAProxy takes the weight, then refuses the state: the weight did change (changed), the message says
    what changed, what was refused with HAProxy's answer, and what was not tried."""
    fake, run = lb()
    answer_one = fake.answer_one

    def refuse_states(command):
        if command.startswith("set server") and " state " in command:
            fake.commands.append(command)
            return "Cannot change the state of a server tracking another one.\n"
        return answer_one(command)

    fake.answer_one = refuse_states
    result = run(server="node1", backend=["beam_nodes", "beam_nodes"], state="drain", weight=5)
    assert result["failed"] and result["changed"]
    assert fake.set_commands == ["set server beam_nodes/node1 weight 5", "set server beam_nodes/node1 state drain"]
    assert "HAProxy refused `set server beam_nodes/node1 state drain`" in result["msg"]
    assert ": Cannot change the state of a server tracking another one." in result["msg"]
    assert "(changed: beam_nodes/node1 weight 1 -> 5; refused: beam_nodes/node1 state ready -> drain)" in result["msg"]
    assert "nothing changed" not in result["msg"]


def test_a_refusal_in_the_first_backend_lists_what_was_not_tried_in_the_others(lb, fake_server):
    fake, run = lb({"http": {"n1": fake_server(admin=1)}, "ws": {"n1": fake_server(admin=1)}})
    answer_one = fake.answer_one
    fake.answer_one = lambda command: "No such server.\n" if command.endswith("state ready") else answer_one(command)
    result = run(server="n1", state="ready", weight=10)
    assert result["failed"] and result["changed"]
    assert result["msg"].endswith(
        ": No such server. (changed: http/n1 weight 1 -> 10; refused: http/n1 state maint -> ready; "
        "not tried: ws/n1 weight 1 -> 10, ws/n1 state maint -> ready)"
    )


def four(fake_server, **states):
    return {"beam_nodes": {f"node{i}": fake_server(**states.get(f"node{i}", {})) for i in range(1, 5)}}


@pytest.mark.parametrize(
    ("states", "leaving", "bound", "refused"),
    [
        ({}, [], "1", False),
        ({}, [], "25%", False),
        ({"node4": {"admin": 1}}, [], "25%", True),  # node4 in maintenance: 2 of 4 would be out
        ({"node4": {"op": 0, "check_result": 2}}, [], "2", False),  # DOWN counts: 2 of 4, 2 allowed
        ({}, ["node2"], "25%", True),  # the batch alone is 2
        ({}, ["node2"], "50%", False),
        ({"node1": {"admin": 8}}, [], "1", False),  # itself already drained counts once
    ],
)
def test_the_capacity_bound_is_checked_before_any_change(lb, fake_server, states, leaving, bound, refused):
    fake, run = lb(four(fake_server, **states))
    result = run(server="node1", backend="beam_nodes", state="drain", max_out_of_rotation=bound, leaving=leaving)
    assert result["capacity"]["refused"] is refused and result["capacity"]["members"] == 4
    if refused:
        assert result["failed"] and not result["changed"] and fake.set_commands == []
        assert "Nothing was changed" in result["msg"] and f"max_out_of_rotation ({bound}) allows" in result["msg"]
    else:
        assert not result.get("failed"), result
        assert fake.set_commands in ([], ["set server beam_nodes/node1 state drain"])


def test_a_capacity_refusal_names_the_members_out_and_the_batch(lb, fake_server):
    _fake, run = lb(four(fake_server, node4={"admin": 1}))
    result = run(
        server="node1",
        backend="beam_nodes",
        state="drain",
        max_out_of_rotation="1",
        leaving=["node2"],
        _ansible_check_mode=True,
    )
    assert result["failed"] and result["capacity"] == {
        "members": 4,
        "out_now": ["node4"],
        "leaving": ["node1", "node2"],
        "allowed": 1,
        "refused": True,
    }
    assert result["msg"].startswith("Draining node1 with node2 would leave 3 of the 4 members of beam_nodes")
    assert "(node4 already out: drained, in maintenance or DOWN)" in result["msg"]


def test_the_capacity_bound_is_not_read_for_ready_and_its_format_is_checked(lb, fake_server):
    fake, run = lb(four(fake_server, node4={"admin": 1}))
    assert "capacity" not in run(server="node4", backend="beam_nodes", state="ready", max_out_of_rotation="1")
    bad = run(server="node1", backend="beam_nodes", state="drain", max_out_of_rotation="a quarter")
    assert bad["failed"] and "max_out_of_rotation must be a count or a percentage" in bad["msg"]
    assert fake.set_commands == ["set server beam_nodes/node4 state ready"]
