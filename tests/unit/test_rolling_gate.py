# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling role's promote gate between batches (roles/rolling/tasks/gate.yml), run by ansible-playbook
on three local hosts in batches of one, as main.yml includes it: a promote file lets the next batch go,
`abort` hands every host to the fleet rollback that follows, no file in time and no answer stop the
rollout with the command that rolls back."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- hosts: all
  gather_facts: false
  serial: 1
  vars:
    __rolling_rollback_plays: true
    rolling_app_name: app
    rolling_version: 1.2.0
  tasks:
    - ansible.builtin.set_fact:
        __rolling_needed: true
        __rolling_outcome: deployed
        __rolling_locked: false
    - ansible.builtin.include_role:
        name: beamops.deploy.rolling
        tasks_from: gate
      vars:
        __rolling_gate_decision: "{{ hostvars['localhost'].__rolling_gate.decision }}"
        __rolling_gate_rolls_back: "{{ rolling_promote_abort == 'rollback' and __rolling_rollback_plays | bool }}"
        __rolling_gate_done: "{{ ansible_play_hosts_all[: ansible_play_hosts_all.index(ansible_play_batch[-1]) + 1] }}"
        __rolling_gate_left: "{{ ansible_play_hosts_all[ansible_play_hosts_all.index(ansible_play_batch[-1]) + 1 :] }}"
      when: ansible_play_batch[-1] != ansible_play_hosts_all[-1]
    - ansible.builtin.debug:
        msg: "deployed {{ inventory_hostname }}"
- hosts: beamops_rollback
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "rollback of {{ inventory_hostname }}"
"""


@pytest.fixture
def play(tmp_path, ansible_playbook):
    """play(*extra) -> PLAY's output on one line, rc=<its exit status> at the end: ansible-playbook run on
    three local hosts with extra arguments, no terminal."""
    (tmp_path / "inv.yml").write_text(
        "all:\n  hosts:\n" + "".join(f"    h{i}: {{ansible_connection: local}}\n" for i in (1, 2, 3))
    )
    (tmp_path / "play.yml").write_text(PLAY)
    collections = ROOT / ".build" / "collections"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(collections))

    def run(*extra: str) -> str:
        done = ansible_playbook("-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml"), *extra, env=env)
        return " ".join((done.stdout + done.stderr).split()) + f" rc={done.returncode}"

    return run


@pytest.fixture(autouse=True)
def _collection():
    if not (ROOT / ".build" / "collections" / "ansible_collections" / "beamops" / "deploy").exists():
        pytest.skip("the collection link .build/collections is missing (make collection)")


def test_promote_lets_the_next_batch_go_and_abort_hands_every_host_to_the_rollback(tmp_path, play):
    marker = tmp_path / "promote"
    marker.write_text("promote\n")

    def abort_once_read():
        deadline = time.monotonic() + 60
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        marker.write_text("abort please\n")

    threading.Thread(target=abort_once_read, daemon=True).start()
    out = play("-e", "rolling_promote=file", "-e", f"rolling_promote_file={marker}")
    assert "promote gate after h1: promote" in out and "promote gate after h2: abort" in out, out
    assert "deployed h1" in out and "deployed h2" not in out, out  # the play ended at the second gate
    assert all(f"rollback of h{i}" in out for i in (1, 2, 3)), out
    assert not marker.exists()  # read, then removed
    assert "rc=0" in out  # the playbook's last play (not here) fails the aborted run


def test_no_promote_file_in_time_stops_the_rollout_and_says_how_to_roll_back(tmp_path, play):
    out = play(
        *("-e", "rolling_promote=file", "-e", f"rolling_promote_file={tmp_path / 'never'}"),
        *("-e", "rolling_promote_timeout=1"),
    )
    assert "promote gate after h1: timeout" in out, out
    assert "did not appear within 1 s (rolling_promote_timeout)" in out, out
    assert "h2, h3 were not touched" in out and "beamops.deploy.rollback -e beamops_strategy=rolling" in out, out
    assert "deployed h2" not in out and "rollback of" not in out and "rc=2" in out, out


def test_a_prompt_without_a_terminal_stops_rather_than_promotes(play):
    out = play("-e", "rolling_promote=prompt")
    assert "promote gate after h1: no_answer" in out and "in CI use rolling_promote=file" in out, out
    assert "deployed h2" not in out and "rc=2" in out, out


def test_abort_with_rolling_promote_abort_stop_only_stops(tmp_path, play):
    marker = tmp_path / "promote"
    marker.write_text("abort\n")
    out = play(
        *("-e", "rolling_promote=file", "-e", f"rolling_promote_file={marker}"),
        *("-e", "rolling_promote_abort=stop"),
    )
    assert "promote gate after h1: abort" in out and "(aborted)" in out, out
    assert "rollback of" not in out and "rc=2" in out, out
