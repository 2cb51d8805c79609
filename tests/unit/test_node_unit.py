# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node role's systemd unit (roles/node/templates/release.service.j2) as ansible-playbook's template module
writes it: node_environment becomes one Environment= line per variable, quoted so that systemd reads back the
exact value (quotes, backslashes, spaces, % specifiers), and no line at all when it is empty."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Write the unit as the node role does
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.template:
        src: "{{ template }}"
        dest: "{{ dest }}"
        mode: "0644"
"""


def systemd_environment(unit: str) -> dict[str, str]:
    """The environment systemd reads from Environment= lines: a quoted word with C escapes, %% for %."""
    env = {}
    for line in unit.splitlines():
        if not line.startswith("Environment="):
            continue
        word = line[len("Environment=") :]
        if word.startswith('"'):
            assert word.endswith('"'), line
            word = re.sub(r"\\(.)", r"\1", word[1:-1])
        else:
            assert " " not in word and '"' not in word, line
        assert "%" not in word.replace("%%", ""), f"an unescaped specifier in {line}"
        word = word.replace("%%", "%")
        key, _sep, value = word.partition("=")
        env[key] = value
    return env


def render(tmp_path: Path, ansible_playbook, environment: dict) -> str:
    (tmp_path / "play.yml").write_text(PLAY)
    extra = {
        "template": str(ROOT / "roles" / "node" / "templates" / "release.service.j2"),
        "dest": str(tmp_path / "app.service"),
        "node_app_name": "app",
        "node_user": "app",
        "node_group": "app",
        "node_user_home": "/home/app",
        "node_app_root": "/opt/app",
        "__node_foreground": "foreground",
        "node_stop_timeout": 60,
        "node_environment": environment,
        "ansible_python_interpreter": sys.executable,
    }
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(extra), env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return (tmp_path / "app.service").read_text()


def test_each_variable_reaches_systemd_as_given(tmp_path, ansible_playbook):
    given = {
        "BEAMOPS_SAMPLE_PEERS": "app@web1,app@web2",
        "QUOTED": 'say "hi" \\ there',
        "SPECIFIER": "50%h of %n",
        "EMPTY": "",
    }
    unit = render(tmp_path, ansible_playbook, given)
    assert systemd_environment(unit) == {"HOME": "/home/app", **given}, unit
    # In a stable order (by name), right after HOME.
    names = [line.split("=", 1)[1].lstrip('"').split("=")[0] for line in unit.splitlines() if "Environment=" in line]
    assert names == ["HOME", "BEAMOPS_SAMPLE_PEERS", "EMPTY", "QUOTED", "SPECIFIER"], names


def test_no_environment_writes_the_unit_as_before(tmp_path, ansible_playbook):
    unit = render(tmp_path, ansible_playbook, {})
    assert [line for line in unit.splitlines() if line.startswith("Environment=")] == ["Environment=HOME=/home/app"]
    assert "\n\n[Install]" in unit and "Environment=HOME=/home/app\nWorkingDirectory=/opt/app\n" in unit, unit
