# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of one host of a rolling batch that --check prints."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.filter.rolling_plan import rolling_plan

NODE = {
    "batch": ["n1", "n2"],
    "needed": True,
    "running": "1.0.0",
    "target": "1.1.0",
    "service_manager": "systemd",
    "service_name": "app.service",
    "member": "n1",
    "backends": ["app"],
    "load_balancers": ["lb1", "lb2"],
}


def plan(**changed):
    return rolling_plan("n1", **{**NODE, **changed})


def test_a_cold_deploy_says_versions_restart_and_where_the_member_leaves_rotation():
    assert plan() == (
        "plan: n1 (batch n1, n2): 1.0.0 -> 1.1.0 by cold upgrade (switch current, restart systemd unit "
        "app.service); member n1 of app leaves rotation on lb1, lb2 for its batch; then probed and readied"
    )


def test_hot_patch_and_fleet_rollback_say_how():
    assert "by hot upgrade (release_handler, no restart); " in plan(method="hot")
    assert "by patch upgrade (the modules the rebuild changes, loaded into the running node); " in plan(method="patch")
    assert ": 1.2.0 -> 1.1.0 (fleet rollback) by cold upgrade" in plan(running="1.2.0", fleet_rollback="true")
    assert ": not running -> 1.1.0 by cold upgrade (switch current, restart script); " in plan(
        running="", service_manager="script", service_name=""
    )


def test_a_node_that_needs_nothing():
    assert plan(needed=False) == "plan: n1 (batch n1, n2): runs 1.1.0 already: nothing to do"
    assert plan(needed="False", fleet_rollback=True, reason="runs 1.0.0: nothing to return") == (
        "plan: n1 (batch n1, n2): runs 1.0.0: nothing to return"
    )


def test_without_a_drain_the_member_stays_or_there_is_no_load_balancer():
    assert plan(drain=False).endswith("; member n1 stays in rotation; then probed")
    assert plan(drain=False, load_balancers=None).endswith("; no load balancer; then probed")
    assert plan(drain=False, load_balancers=None, drain_hooks=True).endswith(
        "; no load balancer (the drain and ready hooks run); then probed"
    )


def test_the_cluster_gates_name_the_peers_and_the_readiness_check():
    said = plan(cluster=True, cluster_node="a@n1", cluster_expected=["a@n1", "a@n2"], cluster_timeout=30)
    assert said.endswith(
        "; then probed and readied; cluster gates (within 30 s): before it leaves, a@n1 connected to a@n2; after "
        "its deploy, rejoined, else rolled back"
    )
    said = plan(cluster=True, cluster_expected=["n1"], cluster_ready="app:ready/0")
    assert said.endswith(
        "before it leaves, n1 connected to its peers and app:ready/0 true on them; after its deploy, rejoined and "
        "ready, else rolled back"
    )
