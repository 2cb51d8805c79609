# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_steps
short_description: The task files one host of a rolling batch runs, in order
version_added: 0.1.0
description:
  - The rolling role's table of contents for one host. Each stage (drain, deploy, probe, ready, rollback) is its
    own task file, with the user's hook files before and after it where O(hooks) names them; the last part of a
    stage records its time (C(timed)).
  - With no hook at the deploy and probe stages, O(one_call) makes them one call to the node (C(cold_upgrade.yml)
    or C(hot_upgrade.yml), which record both stages).
  - A stage without its body (no load balancer, O(drain) false) is its hooks alone, and left out without them.
  - Each part is a dict with C(file) (the task file of the role, or C(hook.yml) for a user hook) and C(stage);
    C(hook) names the hook, C(gate) the cluster gate, C(timed) marks the part that ends its stage, and the probe
    parts carry C(after_permanent) (a hot deploy's probe once the release was made permanent) or C(old) (the
    rollback's probe of the version that ran before).
positional: _input
options:
  _input:
    description: V(deploy) for the stages of a host that needs the new version, V(rollback) for its rollback.
    type: str
    required: true
    choices: [deploy, rollback]
  hooks:
    description: The hook names set (the keys of C(rolling_hooks)).
    type: list
    elements: str
    default: []
  method:
    description: V(cold), V(hot) or V(patch).
    type: str
    default: cold
  fleet_rollback:
    description: A fleet rollback's stages (a hot one is probed in full after its downgrade).
    type: bool
    default: false
  deploy_file:
    description: The deploy stage's task file when it is not one call.
    type: str
    default: deploy_cold.yml
  drain:
    description: Whether the member is drained and readied on the load balancers.
    type: bool
    default: true
  one_call:
    description: The deploy and the probe in one call to the node.
    type: bool
    default: false
  cluster:
    description: The cluster gates (leave before the drain, rejoin before the ready, rolled_back after a rollback).
    type: bool
    default: false
  analysis:
    description: The canary analysis after the ready.
    type: bool
    default: false
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: The stages of this host
  ansible.builtin.include_tasks: "{{ part.file }}"
  loop: "{{ 'deploy' | beamops.deploy.rolling_steps(hooks=rolling_hooks.keys() | list, method='cold', one_call=true) }}"
  loop_control:
    loop_var: part
"""

RETURN = r"""
_value:
  description: The parts, in the order they run.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def _stage(stage: str, body: str | None, hooks, **extra) -> list[dict]:
    parts = [{"file": "hook.yml", "stage": stage, "hook": f"before_{stage}"}] if f"before_{stage}" in hooks else []
    if body:
        parts.append(dict({"file": body, "stage": stage}, **extra))
    if f"after_{stage}" in hooks:
        parts.append({"file": "hook.yml", "stage": stage, "hook": f"after_{stage}"})
    if parts:
        parts[-1]["timed"] = True
    return parts


def _gate(gate: str) -> dict:
    return {"file": "cluster_gate.yml", "stage": f"cluster_{gate}", "gate": gate}


def rolling_steps(
    phase: str,
    hooks=(),
    method: str = "cold",
    fleet_rollback: bool = False,
    deploy_file: str = "deploy_cold.yml",
    drain: bool = True,
    one_call: bool = False,
    cluster: bool = False,
    analysis: bool = False,
) -> list[dict]:
    hooks = set(hooks or ())
    fleet_rollback, drain, one_call, cluster, analysis = (
        boolean(flag, strict=False) for flag in (fleet_rollback, drain, one_call, cluster, analysis)
    )
    ready = _stage("ready", "ready.yml" if drain else None, hooks)
    if phase == "rollback":
        return (
            _stage("rollback", "rollback.yml", hooks)
            + _stage("probe", "probe.yml", hooks, old=True)
            + ([_gate("rolled_back")] if cluster else [])
            + ready
        )
    if phase != "deploy":
        raise AnsibleFilterError(f"rolling_steps: the phase is deploy or rollback, not {phase!r}")
    if one_call:
        upgrade = [{"file": f"{method}_upgrade.yml", "stage": "deploy"}]
    else:
        upgrade = _stage("deploy", deploy_file, hooks) + _stage(
            "probe", "probe.yml", hooks, after_permanent=method == "hot" and not fleet_rollback
        )
    return (
        ([_gate("leave")] if cluster else [])
        + _stage("drain", "drain.yml" if drain else None, hooks)
        + upgrade
        + ([_gate("rejoin")] if cluster else [])
        + ready
        + ([{"file": "analysis.yml", "stage": "analysis"}] if analysis else [])
    )


class FilterModule:
    def filters(self):
        return {"rolling_steps": rolling_steps}
