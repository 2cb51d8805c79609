# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling role's deploy lock script (roles/rolling/files/deploy_lock.py), run as the role runs it:
`python3 -c <script> ACTION ...` on the node, one JSON object printed."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

SCRIPT = (Path(__file__).resolve().parents[3] / "roles" / "rolling" / "files" / "deploy_lock.py").read_text()
ME = {"controller": "ctl", "pid": 101, "started": 5.0, "user": "ops", "version": "1.1.0"}
OTHER = {"controller": "ctl2", "pid": 202, "started": 6.0}


def lock(*args) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, *[a if isinstance(a, str) else json.dumps(a) for a in args]],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


def test_take_reads_the_drain_mark_left_beside_the_lock(tmp_path):
    lockdir, mark = tmp_path / ".beamops" / "deploy.lock", tmp_path / ".beamops" / "drained.json"
    assert lock("take", str(lockdir), ME, "null", str(mark)) == {
        "taken": True,
        "holder": lock("take", str(lockdir), OTHER)["holder"],  # the holder another run finds
        "drained": None,
    }
    assert lock("release", str(lockdir), ME) == {"released": True}
    record = {"by": ME, "server": "node1", "backends": ["beam_nodes"]}
    assert lock("mark", str(mark), record) == {"marked": str(mark)}
    assert json.loads(mark.read_text()) == record
    assert lock("take", str(lockdir), ME, "null", str(mark))["drained"] == record
    lock("release", str(lockdir), ME)
    mark.write_text("{half")  # a damaged mark still says the member was left drained
    assert lock("take", str(lockdir), ME, "null", str(mark))["drained"] == {}


def test_a_lock_held_by_another_run_is_not_taken_nor_released_by_this_one(tmp_path):
    lockdir = tmp_path / "deploy.lock"
    assert lock("take", str(lockdir), OTHER)["taken"]
    found = lock("take", str(lockdir), ME)
    assert not found["taken"] and found["holder"]["controller"] == "ctl2"
    assert lock("release", str(lockdir), ME) == {"released": False}
    assert lockdir.is_dir()
    # Taken over only with the holder found before (a run known to be gone).
    assert lock("take", str(lockdir), ME, found["holder"])["taken"]


def test_release_forgets_the_drain_mark_this_run_wrote_only(tmp_path):
    lockdir, mark = tmp_path / ".beamops" / "deploy.lock", tmp_path / ".beamops" / "drained.json"
    lock("take", str(lockdir), ME, "null", str(mark))
    lock("mark", str(mark), {"by": OTHER, "server": "node1"})  # another run (it took the lock over) drained it
    assert lock("release", str(lockdir), ME, str(mark)) == {"released": True, "forgot_mark": False}
    assert mark.exists()
    lock("take", str(lockdir), ME, "null", str(mark))
    lock("mark", str(mark), {"by": ME, "server": "node1"})
    assert lock("release", str(lockdir), ME, str(mark)) == {"released": True, "forgot_mark": True}
    assert not mark.exists() and not lockdir.exists()
    assert lock("release", str(lockdir), ME, str(mark)) == {"released": False, "forgot_mark": False}


def test_check_takes_nothing_on_a_node_without_a_drain_mark_and_says_who_holds_its_lock(tmp_path):
    lockdir, mark = tmp_path / ".beamops" / "deploy.lock", tmp_path / ".beamops" / "drained.json"
    # Nobody holds it: nothing is written on the node.
    assert lock("check", str(lockdir), ME, "null", str(mark)) == {"taken": False, "holder": None, "drained": None}
    assert not (tmp_path / ".beamops").exists()
    # Another run holds it: its holder is said, the lock stays as it is.
    held = lock("take", str(lockdir), OTHER)["holder"]
    assert lock("check", str(lockdir), ME, "null", str(mark)) == {"taken": False, "holder": held, "drained": None}
    assert lock("release", str(lockdir), OTHER) == {"released": True}
    # A drain mark left by an interrupted run: the lock is taken (the run readies that member), the mark read.
    record = {"by": OTHER, "server": "node1"}
    lock("mark", str(mark), record)
    taken = lock("check", str(lockdir), ME, "null", str(mark))
    assert taken["taken"] and taken["drained"] == record and lockdir.is_dir()


def test_a_lock_without_a_readable_holder_is_broken_by_the_holder_found_before(tmp_path):
    """What a take on a full disk left (the directory, no holder.json): rolling_break_lock passes the
    holder found before ({}, unreadable) as the one to move aside, and that must work."""
    lockdir = tmp_path / "deploy.lock"
    lockdir.mkdir()
    found = lock("take", str(lockdir), ME)
    assert found == {"taken": False, "holder": {}}
    assert lock("take", str(lockdir), ME, found["holder"])["taken"]
    assert json.loads((lockdir / "holder.json").read_text())["pid"] == ME["pid"]
    # A damaged holder.json the same way.
    lock("release", str(lockdir), ME)
    lockdir.mkdir()
    (lockdir / "holder.json").write_text("{half")
    assert lock("take", str(lockdir), ME, {})["taken"]


def test_a_take_that_cannot_write_its_holder_leaves_no_lock_behind(tmp_path):
    """A full disk while the holder is written: the run fails naming the lock, and no holderless lock is left."""
    lockdir = tmp_path / "deploy.lock"

    def no_room():  # every write of a byte fails as on a full disk (EFBIG instead of ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "take", str(lockdir), json.dumps(ME)],
        capture_output=True,
        text=True,
        preexec_fn=no_room,
        check=False,
    )
    assert run.returncode != 0
    assert f"could not write the deploy lock's holder into {lockdir}" in run.stderr
    assert "nothing is held" in run.stderr
    assert not lockdir.exists()


def test_a_run_of_another_controller_with_the_same_host_name_is_another_holder(tmp_path):
    lockdir = tmp_path / "deploy.lock"
    twin = {**ME, "controller_id": "ctl/other-boot/pid:[1]"}
    assert lock("take", str(lockdir), {**ME, "controller_id": "ctl/boot/pid:[1]"})["taken"]
    assert lock("release", str(lockdir), twin) == {"released": False}
    assert lockdir.is_dir()
