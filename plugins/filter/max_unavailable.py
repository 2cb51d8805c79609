# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: max_unavailable
short_description: How many of a number of nodes may be out at once, from a count or a percentage
version_added: 0.1.0
description:
  - Turns a bound such as V(1) or V(25%) into a count for the given number of nodes or members. A percentage is
    rounded down and is at least 1.
  - The same arithmetic as P(beamops.deploy.lb_capacity#filter) and the capacity check of
    M(beamops.deploy.lb_member).
positional: _input
options:
  _input:
    description: How many nodes or members the percentage is of.
    type: int
    required: true
  bound:
    description: A whole count from 1 (V(2)), or a whole percentage from 1 (V(25%)).
    type: str
    required: true
  option:
    description: The setting the bound came from, named in the error for anything else.
    type: str
    default: max_unavailable
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Refuse a green colour too small to take the blue colour's traffic
  ansible.builtin.assert:
    that: groups['green'] | length >= groups['blue'] | length - allowed | int
  vars:
    allowed: "{{ groups['blue'] | length | beamops.deploy.max_unavailable('25%', option='my_bound') }}"
"""

RETURN = r"""
_value:
  description: The count, at least 1.
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import allowed_out


def max_unavailable(members, bound, option="max_unavailable") -> int:
    if isinstance(members, bool) or not isinstance(members, int) or members < 0:
        raise AnsibleFilterError(f"max_unavailable: expected how many nodes (a whole number from 0), got {members!r}")
    try:
        return allowed_out(bound, members, option)
    except ValueError as exc:
        raise AnsibleFilterError(f"max_unavailable: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"max_unavailable": max_unavailable}
