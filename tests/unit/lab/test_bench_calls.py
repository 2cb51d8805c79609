# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bench's call counter (benchmarks/callback_plugins/beamops_calls.py) in a real ansible-playbook run:
what it counts as a call that leaves the control node, and what it does not."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PLAYBOOK = """
- name: Counted
  hosts: n1,n2
  gather_facts: false
  tasks:
    - name: One module call each
      ansible.builtin.ping:
    - name: Controller only
      ansible.builtin.set_fact:
        x: 1
    - name: A role's argument spec, on the controller too
      ansible.builtin.validate_argument_spec:
        argument_spec: {x: {type: int}}
        provided_arguments: {x: 1}
    - name: A loop of two
      ansible.builtin.command: "true"
      loop: [a, b]
      changed_when: false
    - name: Delegated to the control node
      ansible.builtin.ping:
      delegate_to: localhost
    - name: Skipped
      ansible.builtin.ping:
      when: false
    - name: Failed but ignored
      ansible.builtin.command: "false"
      ignore_errors: true
      changed_when: false
    - name: A release sent, the kept copy asked for first
      release:
        src: x.tar.gz
        kept_sha256: "{{ omit }}"
    - name: A release sent, the kept copy known
      release:
        src: x.tar.gz
        kept_sha256: ""
"""

# Stands for beamops.deploy.release's action (the callback goes by the action's last name).
RELEASE_ACTION = """
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {"changed": False}
"""


def test_counts_the_calls_that_leave_the_control_node(tmp_path, ansible_playbook):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "action_plugins").mkdir()
    (tmp_path / "action_plugins" / "release.py").write_text(RELEASE_ACTION)
    (tmp_path / "hosts.ini").write_text(
        f"n1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        f"n2 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    out = tmp_path / "calls.json"
    env = dict(
        os.environ,
        ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "benchmarks" / "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="beamops_calls",
        BEAMOPS_CALLS_FILE=str(out),
        ANSIBLE_LOCALHOST_WARNING="False",
    )
    run = ansible_playbook("-i", "hosts.ini", "play.yml", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    counts = json.loads(out.read_text())["Counted"]
    for host in ("n1", "n2"):
        assert counts[host]["calls"] == 7, counts
        assert counts[host]["tasks"] == {
            "One module call each": 1,
            "A loop of two": 2,
            "Failed but ignored": 1,
            "A release sent, the kept copy asked for first": 2,
            "A release sent, the kept copy known": 1,
        }
