# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_plan
short_description: The plan of one host of a rolling batch, in words, for check mode
version_added: 0.1.0
description:
  - Says what the rolling role would do to one host, from what its preflight read (nothing is changed in check
    mode) - the version before and after and how it gets there (cold, hot or patch), whether its member leaves
    rotation and where, and the cluster gates around it with O(cluster).
positional: _input
options:
  _input:
    description: The host's name (C(inventory_hostname)).
    type: str
    required: true
  batch:
    description: The hosts of its batch (C(ansible_play_batch)).
    type: list
    elements: str
    required: true
  needed:
    description: Whether the host gets a new version (C(__rolling_needed)).
    type: bool
    required: true
  running:
    description: The version the node runs now; empty when it runs nothing.
    type: str
    default: ""
  target:
    description: The version it would run.
    type: str
    required: true
  method:
    description: V(cold), V(hot) or V(patch).
    type: str
    default: cold
  fleet_rollback:
    description: A fleet rollback, whose O(reason) says why a node is left alone.
    type: bool
    default: false
  reason:
    description: With O(fleet_rollback), why the node needs nothing (its rollback plan's reason).
    type: str
    default: ""
  service_manager:
    description: How the node is restarted (V(systemd) or V(script)).
    type: str
    default: ""
  service_name:
    description: The systemd unit.
    type: str
    default: ""
  drain:
    description: Whether the member leaves rotation (C(rolling_drain)).
    type: bool
    default: true
  member:
    description: The member's server name.
    type: str
    default: ""
  backends:
    description: The backends it is a member of.
    type: list
    elements: str
    default: []
  load_balancers:
    description: The load balancers it leaves rotation on; none at all without a load balancer group.
    type: list
    elements: str
  drain_hooks:
    description: Without a load balancer, whether the drain and ready stages run for their hooks.
    type: bool
    default: false
  cluster:
    description: Whether the cluster gates run (C(rolling_cluster)).
    type: bool
    default: false
  cluster_node:
    description: The node's name in its cluster.
    type: str
    default: ""
  cluster_expected:
    description: The node names of the cluster.
    type: list
    elements: str
    default: []
  cluster_ready:
    description: The readiness check of the cluster.
    type: str
    default: ""
  cluster_timeout:
    description: Seconds each gate may wait.
    type: int
    default: 60
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Plan of this host
  ansible.builtin.debug:
    msg: "{{ inventory_hostname | beamops.deploy.rolling_plan(batch=ansible_play_batch, needed=true,
             running='1.0.0', target='1.1.0', service_manager='systemd', member='node1', backends=['app'],
             load_balancers=['lb1']) }}"
"""

RETURN = r"""
_value:
  description:
    - "One line, such as C(plan: node1 (batch node1): 1.0.0 -> 1.1.0 by cold upgrade (switch current, restart
      systemd unit app); member node1 of app leaves rotation on lb1 for its batch; then probed and readied)."
  type: str
"""

from ansible.module_utils.parsing.convert_bool import boolean

_HOW = {
    "hot": " (release_handler, no restart)",
    "patch": " (the modules the rebuild changes, loaded into the running node)",
}


def _change(running, target, method, fleet_rollback, service_manager, service_name) -> str:
    how = _HOW.get(method)
    if how is None:
        unit = f" unit {service_name}" if service_name else ""
        how = f" (switch current, restart {service_manager}{unit})"
    rollback = " (fleet rollback)" if fleet_rollback else ""
    return f"{running or 'not running'} -> {target}{rollback} by {method} upgrade{how}"


def _rotation(drain, member, backends, load_balancers, drain_hooks) -> str:
    if drain:
        where = ", ".join(load_balancers or [])
        return f"member {member} of {', '.join(backends)} leaves rotation on {where} for its batch"
    if load_balancers is None:
        return "no load balancer" + (" (the drain and ready hooks run)" if drain_hooks else "")
    return f"member {member} stays in rotation"


def _gates(node, expected, ready, timeout) -> str:
    peers = ", ".join(n for n in expected if n != node) or "its peers"
    return (
        f"; cluster gates (within {timeout} s): before it leaves, {node} connected to {peers}"
        f"{f' and {ready} true on them' if ready else ''}; after its deploy, rejoined{' and ready' if ready else ''}"
        ", else rolled back"
    )


def rolling_plan(
    host: str,
    batch,
    needed,
    target: str,
    running: str = "",
    method: str = "cold",
    fleet_rollback=False,
    reason: str = "",
    service_manager: str = "",
    service_name: str = "",
    drain=True,
    member: str = "",
    backends=(),
    load_balancers=None,
    drain_hooks=False,
    cluster=False,
    cluster_node: str = "",
    cluster_expected=(),
    cluster_ready: str = "",
    cluster_timeout=60,
) -> str:
    fleet_rollback, drain = boolean(fleet_rollback, strict=False), boolean(drain, strict=False)
    head = f"plan: {host} (batch {', '.join(batch)}): "
    if not boolean(needed, strict=False):
        return head + (reason if fleet_rollback else f"runs {target} already: nothing to do")
    return (
        head
        + _change(running, target, method, fleet_rollback, service_manager, service_name)
        + "; "
        + _rotation(drain, member, backends, load_balancers, boolean(drain_hooks, strict=False))
        + f"; then probed{' and readied' if drain else ''}"
        + (_gates(cluster_node or host, cluster_expected, cluster_ready, cluster_timeout) if boolean(cluster) else "")
    )


class FilterModule:
    def filters(self):
        return {"rolling_plan": rolling_plan}
