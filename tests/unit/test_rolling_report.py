# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling role's report (roles/rolling/tasks/report.yml, no_batch.yml, templates/report.md.j2), written by
ansible-playbook on three local hosts as the playbooks write it: the nodes that need nothing are recorded by the
preflight play and go through no batch, the others in their batches; a run where none needs anything is
merged by the preflight alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Preflight, as preflight.yml ends
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        __rolling_run_stamp: "20261207T000000Z"
        __rolling_run_started: "{{ now().timestamp() }}"
        __rolling_run_hosts: "{{ ansible_play_hosts_all }}"
      delegate_to: localhost
      delegate_facts: true
      run_once: true
    - ansible.builtin.set_fact:
        __rolling_needed: "{{ inventory_hostname in (needing | split(',')) }}"
        __rolling_method: cold
        __rolling_before: {node: {running_version: "{{ '1.1.0' if inventory_hostname in needing else '1.2.0' }}"}}
    - ansible.builtin.file:
        path: "{{ report_dir }}/.r.json.d"
        state: directory
        mode: "0755"
      delegate_to: localhost
      run_once: true
    - ansible.builtin.include_role:
        name: beamops.deploy.rolling
        tasks_from: no_batch
      when: not __rolling_needed
    - ansible.builtin.group_by:
        key: beamops_deploying
      when: __rolling_needed

- name: Batches, as main.yml records a deployed host
  hosts: "{{ 'beamops_deploying' if 'beamops_deploying' in groups else 'all:!all' }}"
  gather_facts: false
  serial: 1
  tasks:
    - ansible.builtin.set_fact:
        __rolling_started: "{{ now().timestamp() }}"
        __rolling_steps: []
        __rolling_outcome: deployed
        __rolling_error: ""
        __rolling_after: {node: {running_version: 1.2.0}}
    - ansible.builtin.include_role:
        name: beamops.deploy.rolling
        tasks_from: report
"""


@pytest.fixture(autouse=True)
def _collection():
    if not (ROOT / ".build" / "collections" / "ansible_collections" / "beamops" / "deploy").exists():
        pytest.skip("the collection link .build/collections is missing (make collection)")


def report(tmp_path: Path, ansible_playbook, needing: str) -> tuple[str, dict, str]:
    (tmp_path / "inv.yml").write_text(
        "all:\n  hosts:\n" + "".join(f"    h{i}: {{ansible_connection: local}}\n" for i in (1, 2, 3))
    )
    (tmp_path / "play.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    extra = {
        "needing": needing,
        "report_dir": str(tmp_path),
        "rolling_app_name": "app",
        "rolling_version": "1.2.0",
        "rolling_report_path": str(tmp_path / "r.json"),
    }
    inv, play = str(tmp_path / "inv.yml"), str(tmp_path / "play.yml")
    run = ansible_playbook("-i", inv, play, "-e", json.dumps(extra), env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    return out, json.loads((tmp_path / "r.json").read_text()), (tmp_path / "r.md").read_text()


def test_the_nodes_that_need_nothing_are_reported_without_a_batch(tmp_path, ansible_playbook):
    out, data, md = report(tmp_path, ansible_playbook, "h2")
    hosts = {h["host"]: h for h in data["hosts"]}
    assert {n: (h["outcome"], h["batch"]) for n, h in hosts.items()} == {
        "h1": ("unchanged", []),
        "h2": ("deployed", ["h2"]),
        "h3": ("unchanged", []),
    }
    assert data["outcome"] == "ok"
    assert "## No batch, already on 1.2.0: h1, h3" in md and "## Batch 1: h2" in md, md
    assert "## Batch 2" not in md and "3 of 3 reached" in md and ", done" in md.splitlines()[0], md
    assert "h1 (no batch): 1.2.0 -> 1.2.0, unchanged" in out and "h2 (batch of 1): 1.1.0 -> 1.2.0, deployed" in out


def test_a_run_that_changes_nothing_is_reported_by_the_preflight_alone(tmp_path, ansible_playbook):
    out, data, md = report(tmp_path, ansible_playbook, "")
    assert [(h["outcome"], h["batch"]) for h in data["hosts"]] == [("unchanged", [])] * 3
    assert "## No batch, already on 1.2.0: h1, h2, h3" in md and "## Batch" not in md, md
    assert "3 of 3 reached" in md and ", done" in md.splitlines()[0], md
    assert out.count("TASK [beamops.deploy.rolling : Merge the records into the report]") == 1, out
