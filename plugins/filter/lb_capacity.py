# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lb_capacity
short_description: Whether members can leave rotation within a bound, across every load balancer read
version_added: 0.1.0
description:
  - Counts the distinct servers of the backends out of rotation (drained, in maintenance or DOWN) on any of the load
    balancers read, together with the servers about to leave, against a bound given as a count or a percentage.
  - The same count as the capacity check of M(beamops.deploy.lb_member)
    (O(beamops.deploy.lb_member#module:max_out_of_rotation)), which sees one load balancer; this one joins what
    several answered.
positional: _input
options:
  _input:
    description:
      - The registered results of M(beamops.deploy.lb_member_info) on each load balancer (a loop's C(results)),
        or one result. Each C(members) entry needs C(server) and C(in_rotation).
    type: list
    elements: dict
    required: true
  leaving:
    description: The servers about to leave rotation.
    type: list
    elements: str
    default: []
  bound:
    description:
      - How many servers may be out at once, a count (V(1)) or a percentage of the servers (V(25%), at least 1).
    type: str
    required: true
  backends:
    description: The backends read, for the text.
    type: list
    elements: str
    default: []
  option:
    description: The setting the bound came from, named in the text.
    type: str
    default: max_out_of_rotation
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Refuse a batch that would take too many members out of rotation
  ansible.builtin.assert:
    that: not seen.refused
    fail_msg: "this batch {{ seen.text }}"
  vars:
    seen: "{{ lb_reads.results | beamops.deploy.lb_capacity(leaving=['node1'], bound='25%', backends=['app']) }}"
"""

RETURN = r"""
_value:
  description:
    - V(members), how many distinct servers; V(out_now), those out of rotation on any load balancer; V(leaving);
      V(unavailable), how many distinct servers those two make; V(allowed), the bound as a count; V(refused),
      whether V(unavailable) is above it; V(text), the figures in words (from C(would leave)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import capacity


def _seen(reads) -> list[tuple[str, bool]]:
    """(server, in_rotation) of every member every load balancer read."""
    seen = []
    for read in [reads] if isinstance(reads, dict) else reads:
        if isinstance(read, dict) and read.get("skipped"):
            continue  # a load balancer the loop passed over read nothing
        members = read.get("members") if isinstance(read, dict) else None
        if not isinstance(members, list) or not all(
            isinstance(m, dict) and {"server", "in_rotation"} <= set(m) for m in members
        ):
            raise AnsibleFilterError(f"lb_capacity: expected the results of lb_member_info, got {str(read)[:200]}")
        seen.extend((m["server"], bool(m["in_rotation"])) for m in members)
    return seen


def lb_capacity(reads, bound, leaving=(), backends=(), option="max_out_of_rotation") -> dict:
    seen = _seen(reads)
    try:
        return capacity(seen, list(leaving), bound, list(backends), option)
    except ValueError as exc:
        raise AnsibleFilterError(f"lb_capacity: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"lb_capacity": lb_capacity}
