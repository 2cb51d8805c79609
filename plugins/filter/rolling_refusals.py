# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_refusals
short_description: What the rolling preflight refuses across the nodes of a run, before any change
version_added: 0.1.0
description:
  - Reads what each node answered at the rolling role's preflight (its facts C(__rolling_before),
    C(__rolling_needed) and C(__rolling_member)) and the load balancers' view of the backends, and returns one
    message per refusal, each naming the nodes and the fix. An empty list lets the run go on.
  - The refusals are a hot upgrade from a version the tarball's relup does not cover, a patch of a version a node
    does not run, a cluster that is not whole (with O(cluster)), and a load balancer without a member of the run.
  - With O(sent), once the release was sent, the one refusal of that moment instead, naming each node that could not
    take the release and why (its C(__rolling_sent) or C(__rolling_patch_plan) failed, or its
    C(__rolling_lock_lost), when another run took its lock meanwhile).
positional: _input
options:
  _input:
    description: The host variables of each node of the run (C(ansible_play_batch | map('extract', hostvars))).
    type: list
    elements: dict
    required: true
  version:
    description: The version deployed (C(rolling_version)).
    type: str
    required: true
  src:
    description: The tarball as the user gave it (C(rolling_src)), for the messages.
    type: str
    default: ""
  method:
    description: V(cold), V(hot) or V(patch).
    type: str
    default: cold
  fleet_rollback:
    description: A fleet rollback, which sends no tarball (no relup or patch refusal).
    type: bool
    default: false
  relup_from:
    description: The versions the tarball's relup upgrades from (a hot upgrade).
    type: list
    elements: str
    default: []
  cluster:
    description: Whether the nodes form a cluster that must be whole (C(rolling_cluster)).
    type: bool
    default: false
  cluster_peers:
    description: The node names of the cluster; empty for every node of the run.
    type: list
    elements: str
    default: []
  cluster_ready:
    description: The readiness check, for the message.
    type: str
    default: ""
  lb_reads:
    description: The registered results of C(lb_member_info) on each load balancer (a loop's C(results)).
    type: list
    elements: dict
    default: []
  lb_backends:
    description: The backends each member must be in.
    type: list
    elements: str
    default: []
  lb_socket:
    description: The admin socket, for the message.
    type: str
    default: ""
  sent:
    description: After the release was sent to the nodes that need it; only the nodes that could not take it.
    type: bool
    default: false
  name:
    description: The release's name (C(rolling_app_name)), for the message with O(sent).
    type: str
    default: the release
  root:
    description: The deploy root (C(rolling_app_root)), for the message with O(sent).
    type: str
    default: the deploy root
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Refuse what cannot work on the nodes of this run
  ansible.builtin.assert:
    that: refusals | length == 0
    fail_msg: "{{ refusals | join(' ') }}"
  vars:
    refusals: "{{ ansible_play_batch | map('extract', hostvars) | beamops.deploy.rolling_refusals(version='1.1.0') }}"

- name: Once the release was sent, refuse the nodes that could not take it
  ansible.builtin.fail:
    msg: "{{ unsent | join(' ') }}"
  when: unsent | length > 0
  vars:
    unsent: >-
      {{ ansible_play_batch | map('extract', hostvars)
         | beamops.deploy.rolling_refusals(version='1.1.0', sent=true, name='myapp', root='/opt/myapp') }}
"""

RETURN = r"""
_value:
  description: One message per refusal; empty when nothing is refused.
  type: list
  elements: str
"""

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.beamops.deploy.plugins.filter.cluster_split import cluster_split


def _needed(host) -> bool | None:
    """The node's __rolling_needed, None when the preflight did not decide it."""
    value = host.get("__rolling_needed")
    return None if value is None else boolean(value, strict=False)


def _running(host) -> str:
    return ((host.get("__rolling_before") or {}).get("node") or {}).get("running_version") or ""


def _runs(hosts) -> str:
    return ", ".join(f"node {h['inventory_hostname']} runs {_running(h) or 'nothing'}" for h in hosts)


def _relup(hosts, relup_from, src, version) -> str | None:
    uncovered = [h for h in hosts if _needed(h) is True and _running(h) not in relup_from]
    return (
        f"rolling: {_runs(uncovered)} but {src} has a relup from {', '.join(relup_from) or 'nothing'} only: build "
        f"{version} with a relup from the running version, or use rolling_method=cold."
        if uncovered
        else None
    )


def _patch(hosts, src, version) -> str | None:
    elsewhere = [h for h in hosts if _needed(h) is False]
    return (
        f"rolling: {_runs(elsewhere)}, and {src} patches {version}: deploy {version} there first "
        "(rolling_method=cold or hot), or rebuild the patch from the version it runs."
        if elsewhere
        else None
    )


def _cluster(hosts, peers, ready) -> str | None:
    split = cluster_split(hosts, "__rolling_before", peers, ready)
    if not split:
        return None
    return (
        f"rolling: the cluster is not whole before any change: {'; '.join(split)}. Reconnect the nodes (or fix "
        "rolling_cluster_peers or rolling_cluster_ready) and run again. Nothing was changed."
    )


def _members(hosts, reads, backends, socket) -> list[str]:
    wanted = []
    for host in hosts:
        member = host.get("__rolling_member")
        if member is not None and member not in wanted:
            wanted.append(member)
    out = []
    for read in reads:
        for backend in backends:
            there = read["backends"][backend]["members"]
            missing = [m for m in wanted if m not in there]
            if missing:
                names = "', '".join(missing)
                out.append(
                    f"Server{'s' if len(missing) > 1 else ''} '{names}' not found in backend '{backend}' through the "
                    f"HAProxy admin socket {socket} on {read['item']} (servers there: "
                    f"{', '.join(sorted(there)[:20]) or 'none'}). Check the server names in haproxy.cfg (and "
                    "rolling_lb_server, the member's name, the inventory host's by default)."
                )
    return out


def _why_unsent(host) -> str | None:
    """Why a node could not take the release, None when it could (or got none)."""
    sent, plan = host.get("__rolling_sent") or {}, host.get("__rolling_patch_plan") or {}
    if plan.get("failed"):
        return plan.get("msg") or "its patch plan failed"
    if sent.get("failed"):
        return sent.get("msg") or "the release could not be sent"
    if boolean(host.get("__rolling_lock_lost") or False, strict=False):
        return "another deploy took its lock meanwhile"
    return None


def _unsent(hosts, name, version, root) -> str | None:
    why = [(h["inventory_hostname"], _why_unsent(h)) for h in hosts]
    said = "; ".join(f"{host} could not take {name} {version} ({text})" for host, text in why if text)
    return (
        f"rolling: {said}. No member was drained and no node was switched: every node serves the version it ran. "
        f"Fix the node (space under {root}, permissions) and run again."
        if said
        else None
    )


def rolling_refusals(
    hosts,
    version: str,
    src: str = "",
    method: str = "cold",
    fleet_rollback=False,
    relup_from=(),
    cluster=False,
    cluster_peers=(),
    cluster_ready: str = "",
    lb_reads=(),
    lb_backends=(),
    lb_socket: str = "",
    sent=False,
    name: str = "the release",
    root: str = "the deploy root",
) -> list[str]:
    hosts = list(hosts)
    if boolean(sent, strict=False):
        return [text for text in [_unsent(hosts, name, version, root)] if text]
    fleet_rollback, cluster = boolean(fleet_rollback, strict=False), boolean(cluster, strict=False)
    found = []
    if method == "hot" and not fleet_rollback:
        found.append(_relup(hosts, list(relup_from or ()), src, version))
    if cluster:
        found.append(_cluster(hosts, list(cluster_peers or ()), cluster_ready))
    if method == "patch" and not fleet_rollback:
        found.append(_patch(hosts, src, version))
    return [text for text in found if text] + _members(hosts, lb_reads or (), lb_backends or (), lb_socket)


class FilterModule:
    def filters(self):
        return {"rolling_refusals": rolling_refusals}
