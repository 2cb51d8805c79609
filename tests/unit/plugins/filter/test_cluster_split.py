# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nodes of a cluster that are not whole, in words (the rolling and blue_green preflights)."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.filter.cluster_split import cluster_split


def host(name, connected, ready_failures=None, fact="__blue_green_before"):
    view = {"node": f"app@{name}", "connected": [f"app@{c}" for c in connected]}
    if ready_failures:
        view["ready_failures"] = ready_failures
    return {"inventory_hostname": name, fact: {"cluster": view}}


def test_a_whole_cluster_has_nothing_to_say():
    hosts = [host("n1", ["n2"]), host("n2", ["n1"])]
    assert cluster_split(hosts, fact="__blue_green_before") == []


def test_each_node_names_the_peers_it_misses_and_where_its_check_fails():
    hosts = [
        host("n1", ["n2"]),
        host("n2", ["n1"], ready_failures={"app@n1": "false"}),
        host("n3", []),
        {"inventory_hostname": "n4", "__blue_green_before": {"node": {}}},  # no cluster view: passed over
    ]
    assert cluster_split(hosts, fact="__blue_green_before", ready="app:ready/0") == [
        "n1 (app@n1) is not connected to app@n3",
        "n2 (app@n2) is not connected to app@n3 and its readiness check app:ready/0 fails on app@n1",
        "n3 (app@n3) is not connected to app@n1, app@n2",
    ]
    assert cluster_split(
        [host("n2", ["n1"], {"app@n1": "false"})], fact="__blue_green_before", expected=["app@n1"]
    ) == ["n2 (app@n2) its readiness check fails on app@n1"]


def test_the_expected_peers_replace_the_nodes_that_answered():
    hosts = [host("n1", ["n2"], fact="__rolling_before"), host("n2", ["n1"], fact="__rolling_before")]
    assert cluster_split(hosts) == []
    assert cluster_split(hosts, expected=["app@n1", "app@n2", "app@n9"]) == [
        "n1 (app@n1) is not connected to app@n9",
        "n2 (app@n2) is not connected to app@n9",
    ]
