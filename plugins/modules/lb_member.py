#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_member
short_description: Put an HAProxy backend member in ready, drain or maintenance, and wait for it
version_added: 0.1.0
description:
  - Sets the admin state and weight of one server in one or more HAProxy backends through the runtime API,
    over a unix socket (run the task on the load balancer, usually with C(delegate_to)) or a TCP admin
    socket (from the control node or any host that reaches it). Uses Python's C(socket) only.
  - Everything is validated before the first change (the socket answers at admin level, every backend
    exists and holds the server). An unknown backend or server fails naming it, with nothing changed.
  - With O(wait=true), V(drain) and V(maint) return once the member has no current session and no queued
    request, and V(ready) returns once HAProxy reports the member steadily UP (a status between two states
    does not count, such as C(UP 1/3), UP with failing checks on its way down, or C(DOWN 1/2), still DOWN). A member
    that is DOWN returns at once from a drain, and a member already steadily UP returns at once from V(ready).
  - C(changed) reflects the admin state and the weight only, never the traffic that moved.
author:
  - beamops.deploy contributors (@beamops)
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is sent but reads, and the module does not wait.
  diff_mode:
    support: full
    details:
      - The admin state and weight before and after, per backend.
  idempotent:
    support: full
options:
  server:
    description:
      - Name of the server in the backend(s), as in C(haproxy.cfg).
      - Letters, digits and C(- _ . :) only, as HAProxy allows; anything else (a space, C(;), a newline) is refused
        before the socket is opened.
    type: str
    required: true
  backend:
    description:
      - Backend(s) holding O(server). A member that sits in several backends is set in all of them.
      - When omitted, every backend that has a server named O(server); it is an error if there is none.
      - Letters, digits and C(- _ . :) only, as for O(server).
    type: list
    elements: str
    aliases: [backends]
  state:
    description:
      - V(ready) puts the member back in rotation, V(drain) takes no new sessions but lets current ones
        finish, V(maint) takes it out of rotation.
      - When omitted, only O(weight) is managed.
    type: str
    choices: [ready, drain, maint]
  weight:
    description:
      - Weight of the member (the user weight of C(set server ... weight)), from V(0) to V(256).
      - When omitted, the weight is left as it is.
    type: int
  wait:
    description:
      - Wait until the member has reached the state asked for (see the description), or fail at O(wait_timeout_s).
      - While it waits for a drain, a member that loses its V(drain) or V(maint) state (an HAProxy reload or restart
        forgets runtime states) gets it again, listed in RV(reapplied) with a warning.
      - Has no effect without O(state), and in check mode.
    type: bool
    default: false
  wait_timeout_s:
    description:
      - Seconds to wait with O(wait=true).
      - The old name O(wait_timeout) is deprecated and will be removed in 1.0.0.
    type: float
    default: 60
    aliases: [wait_timeout]
  wait_sleep_s:
    description:
      - Seconds between two reads of the member while waiting.
      - The old name O(wait_sleep) is deprecated and will be removed in 1.0.0.
    type: float
    default: 0.5
    aliases: [wait_sleep]
  max_out_of_rotation:
    description:
      - With O(state=drain) or O(state=maint), a capacity bound checked before any change, in the same call. It
        refuses when the distinct servers of O(backend) out of rotation (not V(ready) and steadily UP, so drained,
        in maintenance or DOWN), together with O(server) and O(leaving), would be more than this.
      - A count (V(1)) or a percentage of the distinct servers of those backends (V(25%), at least 1).
      - The refusal changes nothing and returns RV(capacity).
    type: str
  leaving:
    description:
      - With O(max_out_of_rotation), the other servers that leave rotation together with O(server) (the rest of
        its batch), counted as out.
    type: list
    elements: str
    default: []
  shutdown_sessions:
    description:
      - With O(state=drain) or O(state=maint) and O(wait=true), when O(wait_timeout_s) passes with sessions left,
        cut them (C(shutdown sessions server)) and succeed with a warning, instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - beamops.deploy.haproxy_admin
  - beamops.deploy.attributes
notes:
  - HAProxy forgets runtime states on a restart (not on a seamless reload with C(server-state-file)).
  - Admin flags HAProxy sets by itself (maintenance inherited from a tracked server, or caused by a name that does
    not resolve) cannot be cleared here; they are returned in C(admin_flags) of RV(members).
seealso:
  - module: beamops.deploy.health_probe
"""

EXAMPLES = r"""
- name: Drain the node, delegated to the load balancer (unix socket)
  beamops.deploy.lb_member:
    backend: beam_nodes
    server: "{{ inventory_hostname }}"
    state: drain
    wait: true
    wait_timeout_s: 120
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"

- name: Back in rotation once HAProxy sees it UP, from the control node (TCP admin socket)
  beamops.deploy.lb_member:
    admin_host: 127.0.0.1
    admin_port: 9999
    backends: [beam_nodes, beam_nodes_ws]
    server: "{{ inventory_hostname }}"
    state: ready
    wait: true
  delegate_to: localhost

- name: Send a quarter of the traffic to the canary
  beamops.deploy.lb_member:
    server: node1
    weight: 25
  delegate_to: lb1

- name: Drain node1, unless it would leave more than a quarter of the backend out of rotation
  beamops.deploy.lb_member:
    backend: beam_nodes
    server: node1
    state: drain
    wait: true
    max_out_of_rotation: 25%
  delegate_to: lb1

- name: Maintenance, cutting what is still open after 30 seconds
  beamops.deploy.lb_member:
    backend: beam_nodes
    server: node1
    state: maint
    wait: true
    wait_timeout_s: 30
    shutdown_sessions: true
  delegate_to: lb1
"""

RETURN = r"""
members:
  description: One entry per backend, in the order of O(backend).
  returned: success
  type: list
  elements: dict
  contains:
    backend: {description: Backend name., type: str, returned: always}
    server: {description: Server name., type: str, returned: always}
    before:
      description: >-
        The member before the module: V(state) (V(ready), V(drain) or V(maint)), V(weight), V(status) (HAProxy's
        status column, such as V(UP) or V(DOWN)), V(admin_flags), V(sessions), V(queue), V(check).
      type: dict
      returned: always
    after:
      description: The member when the module returned (predicted in check mode), same keys as RV(members[].before).
      type: dict
      returned: always
  sample:
    - backend: beam_nodes
      server: node1
      before: {state: ready, weight: 1, status: UP, admin_flags: [], sessions: 3, queue: 0, check: Layer7 check passed}
      after: {state: drain, weight: 1, status: DRAIN, admin_flags: [forced_drain], sessions: 0, queue: 0, check: ""}
sessions:
  description: Current sessions of the member, summed over its backends, when the module returned.
  returned: success, and when a wait times out
  type: int
  sample: 0
queue:
  description: Queued requests of the member, summed over its backends, when the module returned.
  returned: success, and when a wait times out
  type: int
  sample: 0
waited:
  description: Seconds spent waiting (V(0) without O(wait)).
  returned: success, and when a wait times out
  type: float
  sample: 0.41
wait_result:
  description:
    - V(not_requested) without O(wait), V(check_mode) in check mode, V(up) once every member is UP,
      V(drained) once it has no session and no queued request, V(member_down) at once when a member is DOWN
      (it was not serving; sessions it may still hold are in RV(sessions)), V(sessions_shut_down) after
      O(shutdown_sessions) cut sessions.
  returned: success
  type: str
  sample: drained
capacity:
  description:
    - With O(max_out_of_rotation), what the bound was checked against, also when it refused.
    - V(members), the distinct servers of the backends; V(out_now), those out of rotation before the call;
      V(leaving), O(server) and O(leaving); V(allowed), the bound as a count; V(refused), whether it refused.
  returned: when O(max_out_of_rotation) is given
  type: dict
  sample: {members: 4, out_now: [node4], leaving: [node1], allowed: 1, refused: true}
reapplied:
  description:
    - Members (C(backend/server)) that lost the drain or maint state while O(wait) ran, as an HAProxy reload or
      restart without a server-state file does, and got it again; the wait goes on until they are drained.
  returned: when a member lost its state during the wait
  type: list
  elements: str
  sample: [web/node1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils._dist import seconds_option
from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import (
    ADMIN_SOCKET_RULES,
    BOUND_RE,
    FOREIGN_BITS,
    MAX_WEIGHT,
    HAProxyError,
    HAProxyRefused,
    RuntimeAPI,
    admin_socket_argument_spec,
    admin_socket_problem,
    capacity,
    names_problem,
    runtime_api,
    wait_for,
)


class LbMember:
    """Reads the member once in every backend, changes what differs, waits, reports."""

    def __init__(self, module: AnsibleModule, api: RuntimeAPI) -> None:
        self.module = module
        self.api = api
        self.params = module.params
        self.server = self.params["server"]
        self.changed = False
        self.partial: dict = {}
        self.reapplied: list[str] = []
        self.capacity_seen: dict | None = None

    def backends(self) -> list[str]:
        if self.params["backend"]:
            return list(dict.fromkeys(self.params["backend"]))
        found = self.api.backends_of(self.server)
        if not found:
            raise HAProxyError(
                f"Server {self.server!r} is in no backend known to the {self.api.describe()}. "
                "Check the server name, or name the backend with the backend option."
            )
        return found

    def desired(self, member) -> dict:
        state, weight = self.params["state"], self.params["weight"]
        return {
            "state": member.state if state is None else state,
            "weight": member.weight if weight is None else weight,
        }

    def read(self, members) -> list:
        return [self.api.member(m.backend, m.server) for m in members]

    def check_level(self) -> None:
        if self.api.cli_level() not in (None, "admin"):
            raise HAProxyError(
                f"The {self.api.describe()} is not at admin level: nothing was changed. "
                "Declare it with `stats socket ... level admin`."
            )

    def apply(self, before: list) -> None:
        """Weight first, then state, member after member. When HAProxy refuses a step, the steps done so far
        stay done (``changed``) and the message lists them, the refused one, and those not tried."""
        steps = []
        for member in before:
            want = self.desired(member)
            # Weight first: a member coming back to ready comes back with its new weight.
            if want["weight"] != member.weight:
                steps.append((member, "weight", member.weight, want["weight"]))
            if want["state"] != member.state:
                steps.append((member, "state", member.state, want["state"]))
        done: list[str] = []
        for index, (member, what, old, new) in enumerate(steps):
            try:
                if what == "weight":
                    self.api.set_weight(member, new)
                else:
                    self.api.set_state(member, new)
            except HAProxyError as exc:
                said = "refused" if isinstance(exc, HAProxyRefused) else "not confirmed"
                parts = [f"changed: {', '.join(done) or 'nothing'}", f"{said}: {member.name} {what} {old} -> {new}"]
                rest = [f"{m.name} {w} {o} -> {n}" for m, w, o, n in steps[index + 1 :]]
                if rest:
                    parts.append(f"not tried: {', '.join(rest)}")
                raise HAProxyError(f"{exc} ({'; '.join(parts)})") from exc
            done.append(f"{member.name} {what} {old} -> {new}")
            self.changed = True

    def hold(self, members: list) -> list:
        """Read the members while waiting for a drain; a member that lost its drain or maint state (an
        HAProxy reload or restart forgets runtime states) gets it again, so the wait never ends on a member
        back in rotation that merely has no sessions yet."""
        members = self.read(members)
        lost = [m for m in members if m.state != self.params["state"]]
        if not lost:
            return members
        for member in lost:
            self.api.set_state(member, self.params["state"])
            self.reapplied.append(member.name)
        self.changed = True
        return self.read(members)

    def wait(self, members: list) -> tuple[str, list, float]:
        goal = "up" if self.params["state"] == "ready" else "drained"
        timeout, sleep = self.params["wait_timeout_s"], self.params["wait_sleep_s"]
        read = (lambda: self.read(members)) if goal == "up" else (lambda: self.hold(members))
        outcome, members, waited = wait_for(read, goal, timeout, sleep)
        if outcome is not None:
            return outcome, members, waited
        if goal == "drained" and self.params["shutdown_sessions"]:
            for member in members:
                if not member.is_drained():
                    self.api.shutdown_sessions(member)
            outcome, members, extra = wait_for(lambda: self.hold(members), goal, max(sleep * 4, 2.0), sleep)
            if outcome is not None:
                self.module.warn(
                    f"Sessions of {self.server} were cut after wait_timeout_s ({timeout}s): "
                    "clients of those sessions saw an error."
                )
                return "sessions_shut_down", members, waited + extra
        details = "; ".join(
            f"{m.name}: status {m.status or '?'}, {m.scur} sessions, {m.qcur} queued"
            + (f", check {m.check!r}" if m.check else "")
            + (f", admin flags {m.flags}" if m.flags else "")
            for m in members
        )
        if goal == "up":
            advice = "it stays in ready: fix what fails its health check, or raise wait_timeout_s"
        else:
            advice = (
                f"it stays in {self.params['state']}: raise wait_timeout_s, set shutdown_sessions, "
                "or look at what holds the sessions (`show sess`)"
            )
        self.partial = {
            "sessions": sum(m.scur for m in members),
            "queue": sum(m.qcur for m in members),
            "waited": round(waited, 3),
        }
        raise HAProxyError(
            f"Waiting for {self.server} to be {goal} timed out after {waited:.1f}s ({details}); {advice}."
        )

    def capacity(self, backends: list[str]) -> dict:
        """The capacity bound (max_out_of_rotation), read before any change; refused: HAProxyError."""
        members = self.api.members_of(backends)
        seen = capacity(
            ((m.server, m.in_rotation()) for m in members),
            [self.server, *self.params["leaving"]],
            self.params["max_out_of_rotation"],
            backends,
        )
        text = seen.pop("text")
        del seen["unavailable"]
        self.capacity_seen = seen
        if seen["refused"]:
            others = [s for s in seen["leaving"] if s != self.server]
            raise HAProxyError(
                f"Draining {self.server}{' with ' + ', '.join(others) if others else ''} {text}. Nothing was changed"
            )
        return seen

    def run(self) -> dict:
        check_mode = self.module.check_mode
        backends = self.backends()
        capacity = None
        if self.params["max_out_of_rotation"] and self.params["state"] in ("drain", "maint"):
            capacity = self.capacity(backends)
        before = [self.api.member(backend, self.server) for backend in backends]
        changed = any(self.desired(m) != m.admin() for m in before)
        if changed:
            self.check_level()
            if not check_mode:
                self.apply(before)
        if check_mode:
            after_dicts = [dict(m.as_dict(), **self.desired(m)) for m in before]
            result = {"waited": 0.0, "wait_result": "check_mode" if self.params["wait"] else "not_requested"}
        else:
            after = self.read(before)
            result = {"waited": 0.0, "wait_result": "not_requested"}
            if self.params["wait"] and self.params["state"]:
                outcome, after, waited = self.wait(after)
                result = {"waited": round(waited, 3), "wait_result": outcome}
            after_dicts = [m.as_dict() for m in after]
            if self.reapplied:
                self.module.warn(
                    f"{', '.join(dict.fromkeys(self.reapplied))} lost its {self.params['state']} state while the wait "
                    "ran (an HAProxy reload or restart forgets runtime states): it was set again."
                )
                result["reapplied"] = list(dict.fromkeys(self.reapplied))
            for member in after:
                if member.admin_bits & FOREIGN_BITS:
                    self.module.warn(f"{member.name} is held out of rotation by HAProxy itself: {member.flags}.")
        if capacity is not None:
            result["capacity"] = capacity
        result.update(
            changed=changed or bool(self.reapplied),
            members=[
                {"backend": m.backend, "server": m.server, "before": m.as_dict(), "after": a}
                for m, a in zip(before, after_dicts)
            ],
            sessions=sum(a["sessions"] for a in after_dicts),
            queue=sum(a["queue"] for a in after_dicts),
            diff={
                "before": {m.name: m.admin() for m in before},
                "after": {m.name: {"state": a["state"], "weight": a["weight"]} for m, a in zip(before, after_dicts)},
            },
        )
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            backend=dict(type="list", elements="str", aliases=["backends"]),
            state=dict(type="str", choices=["ready", "drain", "maint"]),
            weight=dict(type="int"),
            wait=dict(type="bool", default=False),
            wait_timeout_s=seconds_option("wait_timeout", "float", 60.0),
            wait_sleep_s=seconds_option("wait_sleep", "float", 0.5),
            shutdown_sessions=dict(type="bool", default=False),
            max_out_of_rotation=dict(type="str"),
            leaving=dict(type="list", elements="str", default=[]),
            **admin_socket_argument_spec(),
        ),
        required_one_of=[("state", "weight")],
        **ADMIN_SOCKET_RULES,
        supports_check_mode=True,
    )
    params = module.params
    weight = params["weight"]
    if weight is not None and not 0 <= weight <= MAX_WEIGHT:
        module.fail_json(msg=f"weight must be between 0 and {MAX_WEIGHT}, got {weight}: nothing was changed.")
    if params["wait_sleep_s"] <= 0 or params["wait_timeout_s"] < 0:
        module.fail_json(msg="wait_sleep_s must be above 0 and wait_timeout_s at least 0: nothing was changed.")
    bound = params["max_out_of_rotation"]
    if bound is not None and not BOUND_RE.match(bound):
        module.fail_json(
            msg=f"max_out_of_rotation must be a count or a percentage such as 25%, got {bound!r}: nothing was changed."
        )
    problem = admin_socket_problem(params)
    if problem:
        module.fail_json(msg=f"{problem} Nothing was changed.", changed=False)
    problem = names_problem({"server": [params["server"]], "backend": params["backend"], "leaving": params["leaving"]})
    if problem:
        module.fail_json(msg=problem, changed=False)
    api = runtime_api(params)
    manager = LbMember(module, api)
    try:
        result = manager.run()
    except HAProxyError as exc:
        if manager.capacity_seen is not None:
            manager.partial["capacity"] = manager.capacity_seen
        module.fail_json(msg=str(exc), changed=manager.changed, server=params["server"], **manager.partial)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
