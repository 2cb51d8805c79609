#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_member_info
short_description: Read the members of HAProxy backends and whether each one is in rotation
version_added: 0.1.0
description:
  - Reads every server of one or more HAProxy backends through the runtime API (C(show servers state) and
    C(show stat)), over a unix socket (run the task on the load balancer) or a TCP admin socket.
  - Tells for each member its admin state, weight, status, sessions and whether it is in rotation, and for
    each backend how many members are out of rotation, so that a play can check the capacity left before
    it takes more members out.
author:
  - beamops.deploy contributors (@beamops)
notes:
  - A member is in rotation when its admin state is V(ready) and HAProxy reports it steadily UP (C(UP 1/3),
    UP on its way down, does not count); a drained, maintained, DOWN or going-down member is out of rotation.
seealso:
  - module: beamops.deploy.lb_member
extends_documentation_fragment:
  - beamops.deploy.haproxy_admin
  - beamops.deploy.haproxy_admin.read
  - beamops.deploy.attributes
  - beamops.deploy.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the backend on the load balancer
  beamops.deploy.lb_member_info:
    backend: [beam_nodes]
  delegate_to: haproxy1
  register: lb_view

- name: Stop when more than one member is out of rotation already
  ansible.builtin.assert:
    that: lb_view.backends.beam_nodes.out_of_rotation | length <= 1
    fail_msg: "out of rotation: {{ lb_view.backends.beam_nodes.out_of_rotation | join(', ') }}"
"""

RETURN = r"""
members:
  description: Every member of the backends read, in HAProxy's order.
  returned: success
  type: list
  elements: dict
  contains:
    backend:
      description: Backend the member is in. A server in several backends read is a member of each, listed once per backend.
      type: str
    server:
      description: Server name, as in C(haproxy.cfg).
      type: str
    state:
      description: Admin state, V(ready), V(drain) or V(maint).
      type: str
    weight:
      description: User weight.
      type: int
    status:
      description: HAProxy's status as C(show stat) prints it (C(UP), C(DOWN), C(DRAIN), C(MAINT), C(UP 1/3) ...).
      type: str
    in_rotation:
      description: Admin state V(ready) and steadily UP.
      type: bool
    sessions:
      description: Current sessions.
      type: int
    queue:
      description: Queued requests.
      type: int
  sample:
    - {backend: beam_nodes, server: node1, state: ready, weight: 1, status: UP, in_rotation: true, sessions: 2, queue: 0}
backends:
  description: Per backend, its member names, those in rotation and those out of it.
  returned: success
  type: dict
  sample:
    beam_nodes: {members: [node1, node2, node3], in_rotation: [node1, node2], out_of_rotation: [node3]}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import (
    ADMIN_SOCKET_RULES,
    HAProxyError,
    admin_socket_problem,
    names_problem,
    read_argument_spec,
    runtime_api,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=read_argument_spec(),
        **ADMIN_SOCKET_RULES,
        supports_check_mode=True,
    )
    params = module.params
    problem = admin_socket_problem(params) or names_problem({"backend": params["backend"]})
    if problem:
        module.fail_json(msg=problem)
    api = runtime_api(params)
    try:
        members = api.members_of(params["backend"])
    except HAProxyError as exc:
        module.fail_json(msg=str(exc))
    listed = []
    backends: dict[str, dict] = {}
    for member in members:
        up = member.in_rotation()
        listed.append(
            {
                "backend": member.backend,
                "server": member.server,
                "state": member.state,
                "weight": member.weight,
                "status": member.status,
                "in_rotation": up,
                "sessions": member.scur,
                "queue": member.qcur,
            }
        )
        view = backends.setdefault(member.backend, {"members": [], "in_rotation": [], "out_of_rotation": []})
        view["members"].append(member.server)
        view["in_rotation" if up else "out_of_rotation"].append(member.server)
    module.exit_json(changed=False, members=listed, backends=backends)


if __name__ == "__main__":
    main()
