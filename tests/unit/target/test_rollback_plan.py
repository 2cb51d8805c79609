# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollback's plan of one node (_node_state.rollback_plan, which release_info returns with
rollback_of), on a temporary root."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _node_state


def info(running, current=None, installed=("1.0.0", "1.1.0"), permanent=None, releases=None, up=True) -> dict:
    releases = releases or [{"version": running, "status": "permanent"}]
    return {
        "current": current or running,
        "installed": list(installed),
        "node": {
            "up": up,
            "running_version": running,
            "permanent_version": permanent or running,
            "releases": releases,
        },
    }


def plan(root: Path, bad: str, node: dict, method="auto", to="", report_before="", timeout=None) -> dict:
    """The plan, computed in a thread that must end within timeout (a read that blocks would not)."""
    got = {}
    worker = threading.Thread(
        target=lambda: got.update(_node_state.rollback_plan(str(root), node, bad, method, to, report_before)),
        daemon=True,
    )
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the plan did not end"
    return json.loads(json.dumps(got))


def history(root: Path, previous, versions=None) -> None:
    (root / ".beamops").mkdir(parents=True, exist_ok=True)
    data = {"format": 1, "name": "app", "previous": previous, "versions": versions or {}, "events": []}
    (root / ".beamops" / "history.json").write_text(json.dumps(data))


def cold_root(tmp_path: Path, current: str) -> Path:
    root = tmp_path / "app"
    (root / "releases" / current / "releases").mkdir(parents=True)
    (root / "current").symlink_to(f"releases/{current}")
    return root


def test_a_cold_deploy_goes_back_to_the_previous_version_of_the_node_history(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    history(root, "1.0.0", {"1.0.0": {}, "1.1.0": {}})
    got = plan(root, "1.1.0", info("1.1.0"))
    assert got == {
        "action": "rollback",
        "target": "1.0.0",
        "method": "cold",
        "source": "the node's history",
        "reason": "",
        "knows_bad": True,
        "problem": "",
    }


def test_a_node_not_on_the_bad_version_is_left_alone(tmp_path):
    root = cold_root(tmp_path, "1.0.0")
    history(root, None, {"1.0.0": {}})
    got = plan(root, "1.1.0", info("1.0.0", installed=("1.0.0",)))
    assert got["action"] == "leave" and not got["problem"] and not got["knows_bad"]
    assert "runs 1.0.0" in got["reason"] and "left alone" in got["reason"]


def test_a_hot_upgrade_goes_back_where_its_record_says_it_came_from(tmp_path):
    root = cold_root(tmp_path, "1.2.0")
    history(root, "1.1.0", {"1.2.0": {"hot_upgraded_from": "1.1.0"}})
    # The record in the tree says 1.1.0 too; it wins over the history when both are there.
    (root / "releases" / "1.2.0" / "releases" / ".beamops-hot-upgrade.json").write_text(
        json.dumps({"version": "1.2.0", "from_version": "1.0.5"})
    )
    releases = [{"version": "1.2.0", "status": "permanent"}, {"version": "1.0.5", "status": "old"}]
    got = plan(root, "1.2.0", info("1.2.0", installed=("1.2.0",), releases=releases))
    assert (got["action"], got["method"], got["target"], got["problem"]) == ("rollback", "hot", "1.0.5", "")
    assert got["source"] == "the node's hot upgrade record"


def test_a_hot_upgrade_known_from_the_history_alone(tmp_path):
    root = cold_root(tmp_path, "1.2.0")
    history(root, "1.1.0", {"1.2.0": {"hot_upgraded_from": "1.1.0"}})
    releases = [{"version": "1.2.0", "status": "permanent"}, {"version": "1.1.0", "status": "old"}]
    got = plan(root, "1.2.0", info("1.2.0", installed=("1.2.0",), releases=releases))
    assert (got["method"], got["target"], got["source"]) == ("hot", "1.1.0", "the node's history")


def test_a_release_installed_but_not_permanent_returns_to_the_permanent_one(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    history(root, "1.0.0", {"1.1.0": {}})
    releases = [{"version": "1.2.0", "status": "current"}, {"version": "1.1.0", "status": "permanent"}]
    got = plan(root, "1.2.0", info("1.2.0", current="1.1.0", permanent="1.1.0", releases=releases))
    assert (got["method"], got["target"], got["problem"]) == ("hot", "1.1.0", "")


def test_the_report_fills_in_what_the_node_does_not_know(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    history(root, None, {"1.1.0": {}})
    got = plan(root, "1.1.0", info("1.1.0"), report_before="1.0.0")
    assert (got["target"], got["source"], got["problem"]) == ("1.0.0", "the deploy's report", "")


def test_the_version_named_by_the_user_wins(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    history(root, "1.0.0", {})
    got = plan(root, "1.1.0", info("1.1.0", installed=("0.9.0", "1.0.0", "1.1.0")), to="0.9.0")
    assert (got["target"], got["source"]) == ("0.9.0", "rolling_rollback_to")


@pytest.mark.parametrize(
    ("case", "args", "words"),
    [
        ("no previous", {}, ["unknown", "rolling_rollback_to=<version>", "rolling_rollback_report=<path>"]),
        ("not unpacked", {"to": "0.9.0"}, ["0.9.0 is not unpacked", "rolling_src", "rolling_rollback_to"]),
        ("the bad one", {"to": "1.1.0"}, ["1.1.0 itself", "rolling_rollback_to"]),
        ("hot unknown", {"to": "1.0.0", "method": "hot"}, ["does not know 1.0.0", "rolling_rollback_method=cold"]),
    ],
)
def test_a_node_that_cannot_be_rolled_back_names_the_option_and_the_fix(tmp_path, case, args, words):
    root = cold_root(tmp_path, "1.1.0")
    history(root, None if case == "no previous" else "1.1.0", {"1.1.0": {}})
    got = plan(root, "1.1.0", info("1.1.0"), **args)
    assert got["action"] == "rollback"
    for word in words:
        assert word in got["problem"], (case, got["problem"])


def test_a_damaged_history_is_no_history_and_a_down_node_is_refused(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    (root / ".beamops").mkdir()
    (root / ".beamops" / "history.json").write_text("{half")
    assert "unknown" in plan(root, "1.1.0", info("1.1.0"))["problem"]
    down = plan(root, "1.1.0", info("1.1.0", up=False))
    assert "does not run" in down["problem"]


@pytest.mark.parametrize("record", [5, "1.0.0", ["a"], None])
def test_a_history_record_that_is_not_a_map_is_refused_naming_the_file_and_the_record(tmp_path, record):
    root = cold_root(tmp_path, "1.1.0")
    history(root, "1.0.0", {"1.0.0": {}, "1.1.0": record})
    got = plan(root, "1.1.0", info("1.1.0"))
    path = root / ".beamops" / "history.json"
    assert f"{path} is damaged: the record of version 1.1.0 under versions is {json.dumps(record)}" in got["problem"]
    assert "rolling_rollback_to" in got["problem"]


def test_a_fifo_as_history_is_refused_at_once(tmp_path):
    root = cold_root(tmp_path, "1.1.0")
    (root / ".beamops").mkdir()
    os.mkfifo(root / ".beamops" / "history.json")
    started = time.monotonic()
    got = plan(root, "1.1.0", info("1.1.0"), timeout=5)
    assert time.monotonic() - started < 5
    assert f"{root}/.beamops/history.json is not a regular file (a FIFO)" in got["problem"]


def test_a_fleet_rollback_of_patches_returns_the_nodes_with_a_patch_applied():
    up = {"node": {"up": True, "running_version": "1.0.0"}}
    applied = [
        {"id": "20261207T120000-aaaaaaaa", "state": "rolled_back"},
        {"id": "20261207T130000-bbbbbbbb", "state": "applied"},
    ]
    plan = _node_state.plan_patch_rollback(up, applied, "1.0.0")
    assert (plan["action"], plan["target"], plan["method"]) == ("rollback", "1.0.0", "patch")
    assert plan["source"] == "hot patch 20261207T130000-bbbbbbbb" and plan["problem"] == ""
    left = _node_state.plan_patch_rollback(up, applied[:1], "1.0.0")
    assert left["action"] == "leave" and "no hot patch applied" in left["reason"]
    other = _node_state.plan_patch_rollback({"node": {"up": True, "running_version": "1.1.0"}}, applied, "1.0.0")
    assert other["action"] == "leave" and "not 1.0.0" in other["reason"]
    down = _node_state.plan_patch_rollback({"node": {"up": False}}, applied, "1.0.0")
    assert "does not run" in down["problem"]
