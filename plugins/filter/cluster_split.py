# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_split
short_description: Which nodes of a cluster miss a peer or fail its readiness check, in words
version_added: 0.1.0
description:
  - Reads the cluster view each node gave M(beamops.deploy.release_info) with
    O(beamops.deploy.release_info#module:cluster) (the peers it is connected to, and where the readiness check
    fails) and returns one phrase per node that is not whole, naming the host, its node, the peers it misses and
    where its readiness check fails.
  - The preflights of the rolling and blue_green roles refuse such a cluster before any change.
positional: _input
options:
  _input:
    description: The host variables of each node (C(ansible_play_hosts | map('extract', hostvars))).
    type: list
    elements: dict
    required: true
  fact:
    description: The fact that holds the node's C(release_info) result; a host without its C(cluster) is passed over.
    type: str
    default: __rolling_before
  expected:
    description: The node names every node must be connected to; empty, the nodes of O(_input) that answered.
    type: list
    elements: str
    default: []
  ready:
    description: The readiness check, named in the phrase.
    type: str
    default: ""
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Ask each node how it sees its cluster
  beamops.deploy.release_info:
    name: myapp
    root: /opt/myapp
    cluster: true
    cluster_ready: "myapp:ready/0"
  register: node_view

- name: Say which nodes miss a peer or fail the readiness check
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts | map('extract', hostvars)
             | beamops.deploy.cluster_split(fact='node_view', ready='myapp:ready/0') }}"
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - One phrase per node that is not whole, such as C(n1 (app@n1) is not connected to app@n3); empty when every
      node is.
  type: list
  elements: str
"""


def cluster_split(hosts, fact: str = "__rolling_before", expected=(), ready: str = "") -> list[str]:
    views = []
    for host in hosts:
        view = (host.get(fact) or {}).get("cluster")
        if isinstance(view, dict):
            views.append((host["inventory_hostname"], view))
    expected = list(expected or ()) or [view["node"] for _host, view in views]
    check = f"its readiness check {ready}" if ready else "its readiness check"
    split = []
    for host, view in views:
        missing = [n for n in expected if n != view["node"] and n not in view.get("connected", [])]
        unready = list(view.get("ready_failures") or {})
        if missing or unready:
            text = f"{host} ({view['node']})"
            if missing:
                text += " is not connected to " + ", ".join(missing)
            if unready:
                text += (" and " if missing else " ") + f"{check} fails on " + ", ".join(unready)
            split.append(text)
    return split


class FilterModule:
    def filters(self):
        return {"cluster_split": cluster_split}
