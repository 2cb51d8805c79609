# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity bound across every load balancer read (the rolling role's check before a batch)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.lb_capacity import lb_capacity


def read(lb, **in_rotation):
    return {"item": lb, "members": [{"server": s, "in_rotation": up} for s, up in in_rotation.items()]}


def test_a_server_out_on_any_load_balancer_counts_once():
    reads = [read("lb1", n1=True, n2=True, n3=False, n4=True), read("lb2", n1=True, n2=False, n3=False, n4=True)]
    seen = lb_capacity(reads, bound="50%", leaving=["n1"], backends=["app"], option="rolling_max_unavailable")
    assert {k: seen[k] for k in ("members", "out_now", "leaving", "unavailable", "allowed", "refused")} == {
        "members": 4,
        "out_now": ["n2", "n3"],
        "leaving": ["n1"],
        "unavailable": 3,
        "allowed": 2,
        "refused": True,
    }
    assert seen["text"] == (
        "would leave 3 of the 4 members of app out of rotation at once (n2, n3 already out: drained, in "
        "maintenance or DOWN), and rolling_max_unavailable (50%) allows 2"
    )


def test_a_batch_within_the_bound_passes_and_a_percentage_allows_at_least_one():
    reads = [read("lb1", n1=True, n2=True, n3=True)]
    seen = lb_capacity(reads, bound="25%", leaving=["n1", "n1"], backends=["app"])
    assert (seen["allowed"], seen["unavailable"], seen["refused"]) == (1, 1, False)
    assert lb_capacity(reads, bound=2, leaving=["n1", "n2", "n3"])["refused"] is True
    # A leaving server that is out already is not counted twice.
    assert lb_capacity([read("lb1", n1=False, n2=True)], bound="1", leaving=["n1"])["refused"] is False


def test_a_bad_bound_or_input_is_an_error_that_names_it():
    with pytest.raises(AnsibleFilterError, match="rolling_max_unavailable must be a count or a percentage"):
        lb_capacity([], bound="0", option="rolling_max_unavailable")
    with pytest.raises(AnsibleFilterError, match="results of lb_member_info"):
        lb_capacity([{"members": [{"name": "n1"}]}], bound="1")
    with pytest.raises(AnsibleFilterError, match="results of lb_member_info"):
        lb_capacity([{"item": "lb1"}], bound="1")
    assert lb_capacity([{"item": "lb1", "skipped": True}, read("lb2", n1=True)], bound="1")["members"] == 1
