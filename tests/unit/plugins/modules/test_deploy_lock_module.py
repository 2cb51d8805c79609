# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_lock: check mode changes nothing and says what a run would do; changed only when it changed."""

from __future__ import annotations

import json
import os

from ansible_collections.beamops.deploy.plugins.modules import deploy_lock

ME = {"controller": "ctl", "controller_id": "ctl/boot/pid:[1]", "pid": 101, "started": 5.0}
OTHER = {"controller": "ctl2", "controller_id": "ctl2/boot/pid:[1]", "pid": 202, "started": 6.0}


def test_lock_in_check_mode_writes_nothing_and_says_it_would_take_it(run_module, tmp_path):
    root = str(tmp_path / "app")
    result = run_module(deploy_lock, {"root": root, "holder": ME, "_ansible_check_mode": True})
    assert result["changed"] and result["taken"] and result["holder"] == ME and result["drained"] is None
    assert result["lock_path"] == f"{root}/.beamops/deploy.lock"
    assert not os.path.exists(root)


def test_lock_then_release_each_change_once(run_module, tmp_path):
    root = str(tmp_path / "app")
    taken = run_module(deploy_lock, {"root": root, "holder": ME})
    assert taken["changed"] and taken["taken"] and taken["holder"]["pid"] == 101
    again = run_module(deploy_lock, {"root": root, "holder": ME})
    assert not again["changed"] and not again["taken"] and again["holder"]["pid"] == 101
    released = run_module(deploy_lock, {"root": root, "holder": ME, "state": "unlocked"})
    assert released["changed"] and released["released"]
    assert not run_module(deploy_lock, {"root": root, "holder": ME, "state": "unlocked"})["changed"]


def test_a_held_lock_is_taken_over_only_with_its_holder_check_mode_included(run_module, tmp_path):
    root = str(tmp_path / "app")
    held = run_module(deploy_lock, {"root": root, "holder": OTHER})["holder"]
    refused = run_module(deploy_lock, {"root": root, "holder": ME, "_ansible_check_mode": True})
    assert not refused["changed"] and not refused["taken"] and refused["holder"] == held
    would = run_module(deploy_lock, {"root": root, "holder": ME, "take_over": held, "_ansible_check_mode": True})
    assert would["changed"] and would["taken"]
    assert json.loads((tmp_path / "app/.beamops/deploy.lock/holder.json").read_text())["pid"] == 202
    assert run_module(deploy_lock, {"root": root, "holder": ME, "take_over": held})["taken"]


def test_inspect_writes_nothing_without_a_mark_and_takes_the_lock_with_one(run_module, tmp_path):
    root = str(tmp_path / "app")
    looked = run_module(deploy_lock, {"root": root, "holder": ME, "state": "inspected"})
    assert looked == {**looked, "changed": False, "taken": False, "holder": None, "drained": None}
    assert not os.path.exists(root)
    marked = run_module(deploy_lock, {"root": root, "holder": OTHER, "state": "marked", "mark": {"server": "n1"}})
    assert marked["changed"]
    taken = run_module(deploy_lock, {"root": root, "holder": ME, "state": "inspected"})
    assert taken["taken"] and taken["drained"] == {"server": "n1", "by": OTHER}
    # The recovery readied the member: the mark goes whoever wrote it, then the lock.
    assert run_module(deploy_lock, {"root": root, "holder": ME, "state": "unmarked"})["changed"]
    assert not run_module(deploy_lock, {"root": root, "holder": ME, "state": "unmarked"})["changed"]
    done = run_module(deploy_lock, {"root": root, "holder": ME, "state": "unlocked", "forget_mark": True})
    assert done["released"] and not done["forgot_mark"]


def test_release_forgets_only_the_mark_this_run_wrote(run_module, tmp_path):
    root = str(tmp_path / "app")
    run_module(deploy_lock, {"root": root, "holder": ME})
    run_module(deploy_lock, {"root": root, "holder": ME, "state": "marked", "mark": {"server": "n1"}})
    done = run_module(deploy_lock, {"root": root, "holder": ME, "state": "unlocked", "forget_mark": True})
    assert done["changed"] and done["released"] and done["forgot_mark"]
    assert not os.path.exists(f"{root}/.beamops/drained.json")


def test_a_lock_that_cannot_be_made_fails_naming_it(run_module, tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    (root / ".beamops").write_text("a file where the state directory belongs")
    result = run_module(deploy_lock, {"root": str(root), "holder": ME})
    assert result["failed"] and f"cannot make the deploy lock {root}/.beamops/deploy.lock" in result["msg"]


def test_an_empty_holder_is_refused(run_module, tmp_path):
    result = run_module(deploy_lock, {"root": str(tmp_path), "holder": {}})
    assert result["failed"] and "holder is empty" in result["msg"]


def test_lock_with_a_mark_reports_the_one_found_then_writes_its_own(run_module, tmp_path):
    root = str(tmp_path / "app")
    mark_path = tmp_path / "app/.beamops/drained.json"
    run_module(deploy_lock, {"root": root, "holder": OTHER, "state": "marked", "mark": {"server": "n1", "at": "old"}})
    gone = {"root": root, "holder": OTHER}
    held = run_module(deploy_lock, gone)["holder"]
    mine = {"root": root, "holder": ME, "mark": {"server": "n1", "at": "new"}}
    # Held by another run: nothing written, its mark is left as it was.
    refused = run_module(deploy_lock, mine)
    assert not refused["changed"] and not refused["taken"] and not refused["marked"] and refused["drained"] is None
    assert json.loads(mark_path.read_text())["at"] == "old"
    would = run_module(deploy_lock, dict(mine, take_over=held, _ansible_check_mode=True))
    assert would["changed"] and would["marked"] and json.loads(mark_path.read_text())["at"] == "old"
    # Taken over: the interrupted run's mark is returned (the member is readied), this run's is written.
    taken = run_module(deploy_lock, dict(mine, take_over=held))
    assert taken["changed"] and taken["taken"] and taken["marked"]
    assert taken["drained"] == {"server": "n1", "at": "old", "by": OTHER}
    assert json.loads(mark_path.read_text()) == {"server": "n1", "at": "new", "by": ME}
    # This run's own lock and mark: never reported as an interrupted run's.
    again = run_module(deploy_lock, mine)
    assert again["marked"] and not again["taken"] and again["drained"] is None
    done = run_module(deploy_lock, {"root": root, "holder": ME, "state": "unlocked", "forget_mark": True})
    assert done["released"] and done["forgot_mark"] and not mark_path.exists()


def test_read_only_reads_and_the_lock_is_readable_by_every_user(run_module, tmp_path):
    root = str(tmp_path / "app")
    nothing = run_module(deploy_lock, {"root": root, "holder": ME, "state": "read"})
    assert nothing == {**nothing, "changed": False, "holder": None, "drained": None}
    assert nothing["lock_path"] == f"{root}/.beamops/deploy.lock" and not os.path.exists(root)
    old = os.umask(0o077)
    try:
        run_module(deploy_lock, {"root": root, "holder": OTHER, "mark": {"server": "n1"}})
    finally:
        os.umask(old)
    assert os.stat(f"{root}/.beamops/deploy.lock").st_mode & 0o777 == 0o755
    read = run_module(deploy_lock, {"root": root, "holder": ME, "state": "read"})
    assert not read["changed"] and read["holder"]["pid"] == 202 and read["drained"] == {"server": "n1", "by": OTHER}
