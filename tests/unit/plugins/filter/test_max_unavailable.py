# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bound as a count: the same arithmetic for blue_green's colours as for the rolling capacity check."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.max_unavailable import max_unavailable
from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import capacity


@pytest.mark.parametrize(
    ("members", "bound", "allowed"),
    [(4, "25%", 1), (8, "25%", 2), (7, "50%", 3), (3, "25%", 1), (0, "25%", 1), (10, "100%", 10), (3, "2", 2)],
)
def test_a_percentage_rounds_down_and_is_at_least_one(members, bound, allowed):
    assert max_unavailable(members, bound) == allowed


def test_it_agrees_with_the_capacity_check():
    for members in range(1, 13):
        seen = [(f"s{i}", True) for i in range(members)]
        for bound in ("1", "3", "10%", "25%", "33%", "50%", "99%"):
            assert max_unavailable(members, bound) == capacity(seen, [], bound, ["app"])["allowed"]


@pytest.mark.parametrize("bound", ["0", "0%", "abc", "25 %", "-1", "1.5", ""])
def test_a_bad_bound_names_the_option(bound):
    with pytest.raises(AnsibleFilterError, match="blue_green_max_unavailable must be a count or a percentage"):
        max_unavailable(3, bound, option="blue_green_max_unavailable")


@pytest.mark.parametrize("members", [-1, "3", True, None])
def test_a_bad_number_of_members_is_refused(members):
    with pytest.raises(AnsibleFilterError, match="expected how many nodes"):
        max_unavailable(members, "25%")
