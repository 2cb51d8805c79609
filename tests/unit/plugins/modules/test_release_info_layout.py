# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_info on a root the release module laid out (installed, current, previous, release_root),
on a plain relx directory, and what it concludes from the node's answer (a fake node): whether a cold
restart boots the running version, and the warnings when it does not."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading

import pytest
from ansible.module_utils.common import warnings

from ansible_collections.beamops.deploy.plugins.modules import release, release_info


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class FakeNode:
    """Stands in for _otp.Node: answers status() with `answer` (the keys Node.status returns)."""

    answer: dict | None = None
    options: dict | None = None

    def __init__(self, module, release_root, **options):
        FakeNode.options = {"path": release_root.path, **options}

    def status(self):
        return dict(FakeNode.answer)


def node_answer(running="1.1.0", permanent=None, up=True, root_dir="/opt/app/releases/1.1.0"):
    rels = [{"version": running, "status": "permanent" if permanent in (None, running) else "current"}]
    if permanent not in (None, running):
        rels.append({"version": permanent, "status": "permanent"})
    return {
        "up": up,
        "name": "app@host",
        "cookie_source": "vm_args" if up else None,
        "unreachable_reason": None if up else "epmd at host:4369 has no node named app",
        "releases": rels if up else [],
        "running_version": running if up else None,
        "permanent_version": (permanent or running) if up else None,
        "os_pid": "4242" if up else None,
        "restart_marker": "<0.42.0>" if up else None,
        "applications": ["app", "kernel"] if up else [],
        "root_dir": root_dir if up else None,
    }


@pytest.fixture
def node(monkeypatch):
    monkeypatch.setattr(release_info, "Node", FakeNode)
    FakeNode.answer, FakeNode.options = node_answer(), None
    return FakeNode


@pytest.fixture
def deploy(tmp_path, run_module, release_tarball):
    """deploy(version, state="current") through the release module, as the action plugin would call it."""
    root = tmp_path / "opt" / "app"

    def run(version, state="current"):
        built = release_tarball(tmp_path / f"app-{version}.tar.gz", version=version)
        upload = tmp_path / "upload.tar.gz"
        shutil.copy(built, upload)
        args = {"name": "app", "version": version, "root": str(root), "state": state}
        result = run_module(release, {**args, "src": str(upload), "checksum": sha256(built)})
        assert not result.get("failed"), result
        return root

    return run


def info(run_module, root, **extra):
    return run_module(release_info, {"name": "app", "root": str(root), **extra})


def test_a_root_the_release_module_made_is_read_as_it_wrote_it(node, deploy, run_module):
    deploy("1.0.0")
    deploy("1.2.0", state="present")  # unpacked, never current
    root = deploy("1.1.0")
    node.answer = node_answer("1.1.0", root_dir=str(root / "releases" / "1.1.0"))
    result = info(run_module, root)
    assert result["changed"] is False
    assert result["installed"] == ["1.0.0", "1.1.0", "1.2.0"]
    assert (result["current"], result["previous"]) == ("1.1.0", "1.0.0")
    assert result["release_root"] == str((root / "releases" / "1.1.0").resolve())
    assert result["running_root"] == str(root / "releases" / "1.1.0")
    assert result["start_script_version"] == "1.1.0" and result["cold_restart_boots_running"] is True
    assert result["warnings_text"] == ""
    assert "restart_marker" not in result["node"] and "root_dir" not in result["node"]
    assert node.options["path"] == result["release_root"]  # the node is found from current's target


def test_a_directory_in_releases_without_a_start_script_is_not_an_installed_version(node, deploy, run_module):
    root = deploy("1.0.0")
    (root / "releases" / "1.0.1").mkdir()  # a half-copied or foreign directory
    (root / "releases" / "notes.txt").write_text("x")
    node.answer = node_answer("1.0.0")
    assert info(run_module, root)["installed"] == ["1.0.0"]


@pytest.mark.parametrize("content", ["not json", "[1, 2]", ""])
def test_an_unreadable_history_gives_no_previous_and_no_failure(node, deploy, run_module, content):
    root = deploy("1.0.0")
    deploy("1.1.0")
    (root / ".beamops" / "history.json").write_text(content)
    result = info(run_module, root)
    assert not result.get("failed") and result["previous"] is None and result["current"] == "1.1.0"


def test_a_node_running_another_version_than_the_start_script_boots_is_warned_about(node, deploy, run_module):
    # A hot upgrade to 1.2.0 that never reached bin/app: a cold restart would go back to 1.1.0.
    root = deploy("1.1.0")
    node.answer = node_answer("1.2.0")
    result = info(run_module, root)
    assert result["cold_restart_boots_running"] is False
    text = f"node app@host runs 1.2.0 but {root.resolve()}/releases/1.1.0/bin/app would boot 1.1.0 on a cold restart"
    assert result["warnings_text"] == text


def test_a_running_version_not_yet_permanent_is_warned_about(node, deploy, run_module):
    root = deploy("1.1.0")
    node.answer = node_answer("1.1.0", permanent="1.0.0")
    result = info(run_module, root)
    assert result["cold_restart_boots_running"] is True
    assert result["warnings_text"] == "node app@host runs 1.1.0, not yet permanent: a VM restart boots 1.0.0"


def test_a_node_that_is_down_gives_no_verdict_and_no_warning(node, deploy, run_module):
    root = deploy("1.1.0")
    node.answer = node_answer(up=False)
    result = info(run_module, root)
    assert result["node"]["up"] is False and result["cold_restart_boots_running"] is None
    assert result["running_root"] is None and result["warnings_text"] == ""
    assert "has no node named app" in result["node"]["unreachable_reason"]


def test_a_plain_relx_directory_is_its_own_release(node, tmp_path, run_module):
    plain = tmp_path / "app"
    (plain / "bin").mkdir(parents=True)
    (plain / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="2.0.0"\n')
    node.answer = node_answer("2.0.0")
    result = info(run_module, plain)
    assert result["installed"] == [] and result["previous"] is None
    assert result["current"] == "2.0.0" and result["release_root"] == str(plain.resolve())
    assert result["cold_restart_boots_running"] is True


def test_a_root_without_a_start_script_fails_naming_root_and_fix(node, tmp_path, run_module):
    result = info(run_module, tmp_path / "nothing")
    assert result["failed"]
    assert f"no start script {tmp_path}/nothing/bin/app under root {tmp_path}/nothing" in result["msg"]
    assert "check name and root, or deploy a release first" in result["msg"]


def test_node_options_reach_the_node(node, deploy, run_module, tmp_path):
    root = deploy("1.1.0")
    cookie_file = tmp_path / "cookie"
    cookie_file.write_text("x")
    info(run_module, root, timeout_s=7, node_name="app@elsewhere", cookie_file=str(cookie_file))
    assert node.options["timeout"] == 7 and node.options["node_name"] == "app@elsewhere"
    assert node.options["cookie_file"] == str(cookie_file) and node.options["cookie"] is None


def test_info_changes_nothing_on_the_root(node, deploy, run_module):
    root = deploy("1.0.0")
    deploy("1.1.0")
    before = {str(p): (p.is_symlink() and os.readlink(p)) or p.stat().st_mtime_ns for p in root.rglob("*")}
    history = json.loads((root / ".beamops" / "history.json").read_text())
    info(run_module, root, _ansible_check_mode=False)
    after = {str(p): (p.is_symlink() and os.readlink(p)) or p.stat().st_mtime_ns for p in root.rglob("*")}
    assert after == before and json.loads((root / ".beamops" / "history.json").read_text()) == history


@pytest.mark.parametrize(("drift_warnings", "warned"), [(True, True), (False, False)])
def test_drift_is_a_warning_unless_the_caller_expects_it(node, deploy, run_module, drift_warnings, warned):
    # Between a hot upgrade's install and make_permanent the drift is expected: reported, not warned.
    root = deploy("1.1.0")
    node.answer = node_answer("1.2.0", permanent="1.1.0")
    warnings._global_warnings.clear()  # Ansible keeps a module's warnings process-wide
    result = info(run_module, root, drift_warnings=drift_warnings)
    assert "not yet permanent" in result["warnings_text"] and "would boot 1.1.0" in result["warnings_text"]
    assert bool(result.get("warnings")) is warned


def test_a_fifo_as_history_is_not_read_and_is_warned_about(node, deploy, run_module):
    root = deploy("1.0.0")
    history = root / ".beamops" / "history.json"
    history.unlink()
    os.mkfifo(history)
    node.answer = node_answer("1.0.0")
    rescue = threading.Timer(5, lambda: os.close(os.open(history, os.O_RDWR)))  # ends a read that blocks
    rescue.daemon = True
    rescue.start()
    result = info(run_module, root)
    rescue.cancel()
    assert not result.get("failed") and result["previous"] is None
    assert f"{history} is not a regular file (a FIFO)" in json.dumps(result["warnings"])


def test_a_fifo_as_start_erl_data_fails_naming_it(node, deploy, run_module):
    root = deploy("1.0.0")
    tree = root / "releases" / "1.0.0"
    script = tree / "bin" / "app"
    script.write_text(script.read_text().replace("REL_VSN=", "NO_VSN="))  # a mix release reads start_erl.data
    fifo = tree / "releases" / "start_erl.data"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    rescue = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_RDWR)))
    rescue.daemon = True
    rescue.start()
    result = info(run_module, root)
    rescue.cancel()
    assert result["failed"] is True and f"{fifo.resolve()} is not a regular file (a FIFO)" in result["msg"]


def test_a_releases_dir_that_cannot_be_listed_fails_naming_it_and_the_user(node, deploy, run_module, monkeypatch):
    root = deploy("1.0.0")
    releases = str(root / "releases")
    real = os.listdir

    def listdir(path="."):
        if os.fspath(path) == releases:  # mode 0311: entered, not listed (the tests run as root)
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    result = info(run_module, root)
    assert result["failed"] is True
    assert f"{releases} cannot be listed by user" in result["msg"] and f"(uid {os.geteuid()})" in result["msg"]


def test_the_deploy_lock_and_the_kept_tarball_are_read_only_reported(node, deploy, run_module, tmp_path):
    root = deploy("1.0.0")
    free = info(run_module, root, deploying="1.0.0")
    assert free["deploy_lock"] == {
        "path": f"{root}/.beamops/deploy.lock",
        "readable": True,
        "holder": None,
        "drained": None,
    }
    assert free["kept_tarball"] == sha256(root / ".beamops" / "tarballs" / "app-1.0.0.tar.gz")
    assert info(run_module, root, deploying="9.9.9")["kept_tarball"] == ""
    assert "kept_tarball" not in info(run_module, root)
    (root / ".beamops" / "deploy.lock").mkdir()
    (root / ".beamops" / "deploy.lock" / "holder.json").write_text('{"pid": 7, "controller": "c"}')
    (root / ".beamops" / "drained.json").write_text('{"server": "n1"}')
    held = info(run_module, root)
    assert held["changed"] is False
    assert held["deploy_lock"]["holder"] == {"pid": 7, "controller": "c"}
    assert held["deploy_lock"]["drained"] == {"server": "n1"}
    bad = info(run_module, root, deploying="../x")
    assert bad["failed"] and "Invalid deploying" in bad["msg"]
