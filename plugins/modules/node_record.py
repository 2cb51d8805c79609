#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_record
short_description: Prepare a release root and record who runs the release and how, or read that record
version_added: 0.1.0
description:
  - With O(state=present), makes the release root, its C(releases/) and C(.beamops/) directories (mode 0755) and
    writes C(<root>/.beamops/node.json) (mode 0644), all owned by O(user) and O(group). Only what differs is
    changed. The P(beamops.deploy.node#role) role prepares each node with it.
  - The record says who runs the release (O(user), O(group), O(home)), how it is started (O(service_manager),
    O(service_name)) and its HTTP port. The strategies read it back in their first call to a node
    (P(beamops.deploy.release_info#module)'s RV(beamops.deploy.release_info#module:identity)), so that nobody
    restates it.
  - With O(state=read), returns RV(identity) without changing anything. A root without a record gives its
    owner, with C(service_manager) V(auto) and the release's name for the unit.
author:
  - beamops.deploy contributors (@beamops)
options:
  state:
    description: V(present) prepares the root and writes the record; V(read) only reads it.
    type: str
    choices: [present, read]
    default: present
  user:
    description: The user the release runs as. Required with O(state=present).
    type: str
  group:
    description: Its group. Required with O(state=present).
    type: str
  home:
    description: Its home directory, where its Erlang cookie is. Required with O(state=present).
    type: path
  service_manager:
    description: How the release is started. Required with O(state=present).
    type: str
    choices: [systemd, script]
  service_name:
    description: The systemd unit's name. Required with O(state=present).
    type: str
  http_port:
    description: The port the release serves HTTP on, recorded for the strategies' checks.
    type: int
    default: 0
extends_documentation_fragment:
  - beamops.deploy.attributes
  - beamops.deploy.attributes.release_host
  - beamops.deploy.node.release_root
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written; C(changed) and the diff say what would be.
  diff_mode:
    support: full
    details:
      - The record's text before and after.
  idempotent:
    support: full
notes:
  - Run it as root (the node role does), so that the root and the record can be given to O(user).
"""

EXAMPLES = r"""
- name: Prepare the root and record who runs the release
  beamops.deploy.node_record:
    root: /opt/myapp
    name: myapp
    user: myapp
    group: myapp
    home: /home/myapp
    service_manager: systemd
    service_name: myapp

- name: Read who runs the release and how
  beamops.deploy.node_record:
    root: /opt/myapp
    name: myapp
    state: read
  register: found
"""

RETURN = r"""
identity:
  description:
    - Who runs the release and how (C(user), C(group), C(home), C(service_manager), C(service_name), C(http_port)
      when recorded), and C(recorded), whether a record says so; without one, the root's owner and
      C(service_manager) V(auto).
    - In check mode with O(state=present), what the record would say.
  returned: always
  type: dict
  sample: {"user": "myapp", "group": "myapp", "home": "/home/myapp", "service_manager": "systemd",
           "service_name": "myapp", "http_port": 8080, "recorded": true}
record_path:
  description: The record's path.
  returned: always
  type: str
  sample: /opt/myapp/.beamops/node.json
made:
  description: The directories made (or that would be, in check mode).
  returned: when O(state=present)
  type: list
  elements: str
fixed:
  description: The directories, or the record, whose owner or mode was put right.
  returned: when O(state=present)
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _node_state, _release

RECORDED = ("user", "group", "home", "service_manager", "service_name", "http_port")


def _present(module: AnsibleModule) -> dict:
    p = module.params
    record = {key: p[key] for key in RECORDED}
    try:
        done = _node_state.prepare_root(p["root"], p["name"], record, check=module.check_mode)
    except KeyError as exc:
        module.fail_json(msg=f"No such user or group on this host ({exc}): create it first. Nothing was changed.")
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"Cannot prepare the release root {p['root']}: {exc}")
    result = {
        "changed": bool(done["made"] or done["fixed"] or done["recorded"]),
        "made": done["made"],
        "fixed": done["fixed"],
        "identity": dict(record, recorded=True),
    }
    if module._diff and done["recorded"]:
        record_path = _release.Layout(p["root"], p["name"]).record
        result["diff"] = {
            "before_header": record_path,
            "after_header": record_path,
            "before": done["before"],
            "after": done["after"],
        }
    return result


ARGUMENT_SPEC = {
    "root": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "read"], "default": "present"},
    "user": {"type": "str"},
    "group": {"type": "str"},
    "home": {"type": "path"},
    "service_manager": {"type": "str", "choices": ["systemd", "script"]},
    "service_name": {"type": "str"},
    "http_port": {"type": "int", "default": 0},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[("state", "present", ["user", "group", "home", "service_manager", "service_name"])],
        supports_check_mode=True,
    )
    p = module.params
    why = _release.validate_name(p["name"])
    if why:
        module.fail_json(msg=f"Invalid name: {why}")
    record_path = _release.Layout(p["root"], p["name"]).record
    if p["state"] == "present":
        result = _present(module)
    elif not os.path.isdir(p["root"]):
        module.fail_json(
            msg=f"There is no release root {p['root']}: prepare the node with the beamops.deploy.node role first, "
            "or fix the app name or root. Nothing was changed.",
            record_path=record_path,
        )
    else:
        result = {"changed": False, "identity": _node_state.read_identity(p["root"], p["name"])}
    module.exit_json(record_path=record_path, **result)


if __name__ == "__main__":
    main()
