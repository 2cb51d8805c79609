# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the rolling preflight refuses across the nodes of a run, and the words of each refusal."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.filter.rolling_refusals import rolling_refusals


def node(name, running="1.0.0", needed=True, cluster=None, member=None):
    before = {"node": {"running_version": running}}
    if cluster is not None:
        before["cluster"] = cluster
    return {
        "inventory_hostname": name,
        "__rolling_before": before,
        "__rolling_needed": needed,
        "__rolling_member": member or name,
    }


def lb(name, *members, backend="app"):
    return {"item": name, "backends": {backend: {"members": list(members)}}}


def test_a_run_that_can_go_on_has_no_refusal():
    hosts = [node("n1"), node("n2")]
    assert rolling_refusals(hosts, "1.1.0", method="hot", relup_from=["1.0.0"]) == []
    assert rolling_refusals(hosts, "1.1.0", lb_reads=[lb("lb", "n1", "n2")], lb_backends=["app"]) == []


def test_hot_from_a_version_the_relup_does_not_cover_names_each_node():
    hosts = [node("n1", "0.9.0"), node("n2", "1.0.0"), node("n3", "0.8.0", needed=False)]
    said = rolling_refusals(hosts, "1.1.0", src="app.tgz", method="hot", relup_from=["1.0.0"])
    assert said == [
        "rolling: node n1 runs 0.9.0 but app.tgz has a relup from 1.0.0 only: build 1.1.0 with a relup from the "
        "running version, or use rolling_method=cold."
    ]
    assert rolling_refusals(hosts, "1.1.0", method="hot", fleet_rollback="true") == []


def test_a_patch_of_a_version_a_node_does_not_run():
    hosts = [node("n1", "1.0.0"), node("n2", "", needed="false")]
    assert rolling_refusals(hosts, "1.0.0", src="p.tgz", method="patch") == [
        "rolling: node n2 runs nothing, and p.tgz patches 1.0.0: deploy 1.0.0 there first (rolling_method=cold "
        "or hot), or rebuild the patch from the version it runs."
    ]


def test_a_cluster_short_of_a_peer_or_not_ready():
    a = {"node": "a@h1", "connected": ["b@h2"], "ready_failures": {}}
    b = {"node": "b@h2", "connected": ["a@h1"], "ready_failures": {"a@h1": "false"}}
    c = {"node": "c@h3", "connected": [], "ready_failures": {}}
    hosts = [node("n1", cluster=a), node("n2", cluster=b), node("n3", cluster=c)]
    said = rolling_refusals(hosts, "1.1.0", cluster=True, cluster_ready="app:ready()")
    assert said == [
        "rolling: the cluster is not whole before any change: n1 (a@h1) is not connected to c@h3; n2 (b@h2) is not "
        "connected to c@h3 and its readiness check app:ready() fails on a@h1; n3 (c@h3) is not connected to a@h1, "
        "b@h2. Reconnect the nodes (or fix rolling_cluster_peers or rolling_cluster_ready) and run again. Nothing "
        "was changed."
    ]
    # The peers named: only those are expected.
    assert rolling_refusals(hosts[:1], "1.1.0", cluster=True, cluster_peers=["a@h1", "b@h2"]) == []


def test_a_member_missing_on_a_load_balancer():
    hosts = [node("n1"), node("n2"), node("n3", member="n1")]
    said = rolling_refusals(
        hosts,
        "1.1.0",
        lb_reads=[lb("lb1", "n1", "n2"), lb("lb2", "x")],
        lb_backends=["app"],
        lb_socket="/run/haproxy/admin.sock",
    )
    assert said == [
        "Servers 'n1', 'n2' not found in backend 'app' through the HAProxy admin socket /run/haproxy/admin.sock on "
        "lb2 (servers there: x). Check the server names in haproxy.cfg (and rolling_lb_server, the member's name, "
        "the inventory host's by default)."
    ]


def test_once_sent_only_the_nodes_that_could_not_take_the_release_are_refused():
    took = node("n1") | {"__rolling_sent": {"changed": True}}
    full = node("n2") | {"__rolling_sent": {"failed": True, "msg": "No space left on device"}}
    plan = node("n3") | {
        "__rolling_sent": {"changed": True},
        "__rolling_patch_plan": {"failed": True, "msg": "old code"},
    }
    lost = node("n4") | {"__rolling_lock_try": {"taken": False}, "__rolling_lock_lost": "True"}
    kept = node("n5") | {"__rolling_lock_lost": False}
    said = rolling_refusals([took, full, plan, lost, kept], "1.1.0", sent=True, name="app", root="/opt/app")
    assert said == [
        "rolling: n2 could not take app 1.1.0 (No space left on device); n3 could not take app 1.1.0 (old code); "
        "n4 could not take app 1.1.0 (another deploy took its lock meanwhile). No member was drained and no node "
        "was switched: every node serves the version it ran. Fix the node (space under /opt/app, permissions) and "
        "run again."
    ]
    # The other refusals belong to the read before the send: with sent, they are not said again.
    uncovered = node("n6", "0.9.0")
    assert rolling_refusals([took, kept, uncovered], "1.1.0", method="hot", relup_from=["1.0.0"], sent=True) == []
