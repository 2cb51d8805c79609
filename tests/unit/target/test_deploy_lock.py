# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock of a release root and its drain mark (module_utils/_deploy_lock.py, run on nodes)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _deploy_lock as lk

ME = {"controller": "ctl", "controller_id": "ctl/boot/pid:[1]", "pid": 101, "started": 5.0, "user": "ops"}
OTHER = {"controller": "ctl2", "controller_id": "ctl2/boot/pid:[1]", "pid": 202, "started": 6.0}


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "app")


def test_the_lock_and_the_mark_live_under_the_roots_state_directory(root):
    assert lk.paths(root) == (f"{root}/.beamops/deploy.lock", f"{root}/.beamops/drained.json")


def test_take_writes_the_holder_and_another_run_finds_it(root):
    lock, _mark = lk.paths(root)
    taken = lk.take(lock, ME)
    assert taken["taken"] and taken["holder"]["pid"] == 101 and "since" in taken["holder"]
    assert lk.take(lock, OTHER) == {"taken": False, "holder": taken["holder"]}
    assert lk.read_holder(lock) == taken["holder"]


def test_a_lock_held_by_another_run_is_not_taken_nor_released_by_this_one(root):
    lock, _mark = lk.paths(root)
    held = lk.take(lock, OTHER)["holder"]
    assert not lk.remove(lock, ME) and os.path.isdir(lock)
    # Taken over only with the holder found before (a run known to be gone).
    assert lk.take(lock, ME, take_over=held)["taken"]
    assert lk.read_holder(lock)["pid"] == ME["pid"]


def test_the_drain_mark_is_read_and_forgotten_by_the_run_that_wrote_it_only(root):
    _lock, mark = lk.paths(root)
    assert lk.read_mark(mark) is None
    lk.write_mark(mark, {"by": OTHER, "server": "node1"})
    assert lk.read_mark(mark) == {"by": OTHER, "server": "node1"}
    assert not lk.forget_mark(mark, ME) and os.path.exists(mark)  # another run (it took the lock over) wrote it
    lk.write_mark(mark, {"by": ME, "server": "node1"})
    assert lk.forget_mark(mark, ME) and not os.path.exists(mark)
    with open(mark, "w", encoding="utf-8") as handle:
        handle.write("{half")
    assert lk.read_mark(mark) == {}  # a damaged mark still says the member was left drained
    lk.drop_mark(mark)
    assert lk.read_mark(mark) is None


def test_a_lock_without_a_readable_holder_is_broken_by_the_holder_found_before(root):
    """What a take on a full disk left (the directory, no holder.json): rolling_break_lock passes the
    holder found before ({}, unreadable) as the one to move aside, and that must work."""
    lock, _mark = lk.paths(root)
    os.makedirs(lock)
    found = lk.take(lock, ME)
    assert found == {"taken": False, "holder": {}}
    assert lk.take(lock, ME, take_over=found["holder"])["taken"]
    # A damaged holder.json the same way.
    assert lk.remove(lock, ME)
    os.makedirs(lock)
    with open(os.path.join(lock, "holder.json"), "w", encoding="utf-8") as handle:
        handle.write("{half")
    assert lk.take(lock, ME, take_over={})["taken"]


def test_a_fifo_as_holder_or_mark_is_read_as_damaged_without_blocking(root):
    lock, mark = lk.paths(root)
    os.makedirs(lock)
    os.mkfifo(os.path.join(lock, "holder.json"))
    os.mkfifo(mark)
    assert lk.read_holder(lock) == {}
    assert lk.read_mark(mark) == {}


TAKE = """
import json, sys
from ansible_collections.beamops.deploy.plugins.module_utils import _deploy_lock as lk
try:
    lk.take(sys.argv[1], json.loads(sys.argv[2]))
except lk.LockError as exc:
    sys.exit(str(exc))
"""


def test_a_take_that_cannot_write_its_holder_leaves_no_lock_behind(root):
    """A full disk while the holder is written: the take fails naming the lock, and no holderless lock is left."""
    lock, _mark = lk.paths(root)
    os.makedirs(os.path.dirname(lock))

    def no_room():  # every write of a byte fails as on a full disk (EFBIG instead of ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    run = subprocess.run(
        [sys.executable, "-c", TAKE, lock, json.dumps(ME)],
        capture_output=True,
        text=True,
        preexec_fn=no_room,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        check=False,
    )
    assert run.returncode != 0, run.stderr
    assert f"could not write the deploy lock's holder into {lock}" in run.stderr
    assert "nothing is held" in run.stderr
    assert not os.path.exists(lock)


def test_a_run_of_another_controller_with_the_same_host_name_is_another_holder(root):
    lock, _mark = lk.paths(root)
    lk.take(lock, ME)
    twin = dict(ME, controller_id="ctl/other-boot/pid:[1]")
    assert not lk.remove(lock, twin) and os.path.isdir(lock)
