#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_file
short_description: Write a deploy report file on the control node
version_added: 0.1.0
description:
  - Writes one file (or makes or removes one directory) on the control node, the machine
    C(ansible-playbook) runs on, whatever host the task runs for. The strategies P(beamops.deploy.rolling#role),
    P(beamops.deploy.hot_upgrade#role) write their JSON and Markdown reports with it.
  - The work is done by the action plugin in the controller's own process. Unlike M(ansible.builtin.copy)
    delegated to C(localhost), no module is sent and no interpreter is started for each file, which
    matters when every host of every batch writes its record.
  - A file is written through a temporary file renamed over it, so a reader never sees half of it.
  - In check mode nothing is written.
author:
  - beamops.deploy contributors (@beamops)
attributes:
  action:
    description: The work is done by the action plugin on the control node.
    support: full
  check_mode:
    support: full
    details: Nothing is written in check mode, and the task reports no change.
  diff_mode:
    support: none
  idempotent:
    support: full
  platform:
    description: The control node.
    support: full
    platforms: posix
extends_documentation_fragment:
  - beamops.deploy.attributes
options:
  path:
    description:
      - Path on the control node. A relative path is taken from the directory C(ansible-playbook) runs
        from, as the strategies' C(*_report_path) options are.
    type: path
    required: true
  content:
    description: The file's text, with O(state=file).
    type: str
  state:
    description:
      - V(file) writes O(content) to O(path) (its directory is made when missing).
      - V(directory) makes the directory O(path) and its parents.
      - V(absent) removes O(path), a directory with all it holds.
    type: str
    choices: [file, directory, absent]
    default: file
  mode:
    description:
      - Permissions of a file written, in octal, at most V(0777). A mode with the setuid, setgid or sticky
        bit (such as V(4777)) is refused.
      - The mode is set on the temporary file before it is renamed over O(path); a symlink at O(path) is
        replaced by the file, never followed.
    type: str
    default: "0644"
"""

EXAMPLES = r"""
- name: Write this host's record of the run
  beamops.deploy.report_file:
    path: "/srv/reports/.myapp-1.2.0.json.d/{{ inventory_hostname }}.json"
    content: "{{ my_record | to_nice_json }}"
  changed_when: false

- name: Start afresh
  beamops.deploy.report_file:
    path: /srv/reports/.myapp-1.2.0.json.d
    state: absent
"""

RETURN = r"""
path:
  description: The path written, made or removed (absolute).
  returned: always
  type: str
  sample: /srv/reports/myapp-1.2.0-rolling-20261126T120000Z.json
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    # Only reached when the action plugin was bypassed: the work belongs on the control node.
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str"),
            state=dict(type="str", choices=["file", "directory", "absent"], default="file"),
            mode=dict(type="str", default="0644"),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="beamops.deploy.report_file runs on the control node through its action plugin")


if __name__ == "__main__":
    main()
