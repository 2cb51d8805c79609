# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hot_upgrade's rollback target: which release state=rolled_back returns to, and from which source
(the version asked for, release_handler's permanent release, the hot-upgrade record, an old release)."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from typing import ClassVar

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _otp
from ansible_collections.beamops.deploy.plugins.module_utils._otp import running_version
from ansible_collections.beamops.deploy.plugins.modules import hot_upgrade
from ansible_collections.beamops.deploy.plugins.modules.hot_upgrade import rollback_target


def rels(**statuses):
    """which_releases as the node lists it (newest first): rels(v1_1_0="current", v1_0_0="permanent")."""
    return [{"version": key[1:].replace("_", "."), "status": status} for key, status in statuses.items()]


def record_of(record):
    """A read_record that counts its calls: the record is read only when the target depends on it."""
    calls = []

    def read():
        calls.append(1)
        return record

    read.calls = calls
    return read


def test_the_version_asked_for_wins_over_every_other_source():
    read = record_of({"version": "1.1.0", "from_version": "1.0.0"})
    releases = rels(v1_1_0="permanent", v1_0_0="old", v0_9_0="old")
    assert rollback_target("0.9.0", "1.1.0", "1.1.0", releases, read) == ("0.9.0", False)
    assert read.calls == []


def test_an_install_never_made_permanent_returns_to_the_permanent_release():
    read = record_of({"version": "1.1.0", "from_version": "0.9.0"})
    releases = rels(v1_1_0="current", v1_0_0="permanent", v0_9_0="old")
    assert rollback_target(None, "1.1.0", "1.0.0", releases, read) == ("1.0.0", False)
    assert read.calls == []  # release_handler's permanent release comes before the record


def test_a_permanent_upgrade_returns_to_the_version_the_record_says_it_came_from():
    # The record beats the newest old release: 1.0.5 is newer but was not where 1.1.0 came from.
    read = record_of({"version": "1.1.0", "from_version": "1.0.0"})
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, read) == ("1.0.0", False)
    assert read.calls == [1]


def test_a_record_of_another_version_is_ignored_for_the_newest_old_release():
    read = record_of({"version": "1.2.0", "from_version": "1.1.0"})
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, read) == ("1.0.5", False)


@pytest.mark.parametrize("record", [{}, {"version": "1.1.0"}, {"version": "1.1.0", "from_version": ""}])
def test_without_a_usable_record_the_newest_old_release_is_the_target(record):
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, record_of(record)) == ("1.0.5", False)


def test_a_second_rollback_is_a_no_op():
    # After 1.1.0 -> 1.0.0 the record says so; 1.1.0 is an old release now, and must not be the target.
    read = record_of({"version": "1.0.0", "rolled_back_to": "1.0.0", "rolled_back_from": "1.1.0"})
    releases = rels(v1_1_0="old", v1_0_0="permanent")
    assert rollback_target(None, "1.0.0", "1.0.0", releases, read) == (None, True)


def test_a_record_of_a_rollback_to_another_version_does_not_stop_a_new_rollback():
    read = record_of({"version": "1.0.0", "rolled_back_to": "1.0.0", "rolled_back_from": "1.1.0"})
    releases = rels(v1_2_0="permanent", v1_1_0="old", v1_0_0="old")
    assert rollback_target(None, "1.2.0", "1.2.0", releases, read) == ("1.1.0", False)


def test_no_source_gives_no_target():
    read = record_of({})
    assert rollback_target(None, "1.0.0", "1.0.0", rels(v1_0_0="permanent"), read) == (None, False)
    assert rollback_target(None, "1.0.0", "1.0.0", [], read) == (None, False)


def test_unpacked_releases_are_never_a_target():
    releases = rels(v1_2_0="unpacked", v1_1_0="permanent")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, record_of({})) == (None, False)


# --- the module through main(), with a fake node ----------------------------------------------------
# The release directory and its hot-upgrade record are real files; only the node is faked: FakeNode
# stands in for _otp.Node and keeps release_handler's list of releases as the node would.

VERSION_ARG = re.compile(r'^\["([^"]+)"')


class FakeNode:
    """release_handler of one running node, as far as hot_upgrade drives it (class-level state: the
    module makes its own instance)."""

    releases: ClassVar[list[list[str]]] = []
    up = True
    calls: ClassVar[list[tuple[str, str]]] = []
    marker = 0

    def __init__(self, module, release, **_options):
        self.release = release
        self.name = "app@host"
        self.unreachable_reason = None if FakeNode.up else "epmd at host:4369 has no node named app"

    @classmethod
    def reset(cls, releases, up=True):
        cls.releases = [list(r) for r in releases]
        cls.up, cls.calls, cls.marker = up, [], 0

    def status(self):
        rels = [{"version": v, "status": s} for v, s in FakeNode.releases] if FakeNode.up else []
        return {
            "up": FakeNode.up,
            "name": self.name,
            "cookie_source": "vm_args" if FakeNode.up else None,
            "unreachable_reason": self.unreachable_reason,
            "releases": rels,
            "running_version": running_version(rels),
            "permanent_version": next((r["version"] for r in rels if r["status"] == "permanent"), None),
            "restart_marker": str(FakeNode.marker),
            "root_dir": self.release.path,
            "rpc_errors": {},
        }

    def wait_up(self, timeout):
        return self.status()

    def promote(self, version, status, demoted):
        """version takes status; the release that held it becomes demoted (install: current -> unpacked,
        make_permanent: permanent -> old), as release_handler does."""
        for rel in FakeNode.releases:
            if rel[1] == status:
                rel[1] = demoted
        for rel in FakeNode.releases:
            if rel[0] == version:
                rel[1] = status

    def status_then(self, version, when_status, mod, fun, args, timeout=None):
        """Node.status_then: the status, and the call only when it lists version with when_status."""
        state = self.status()
        if any(r["version"] == version and r["status"] == when_status for r in state["releases"]):
            return state, self.rpc(mod, fun, args)[0]
        return state, None

    def steps(self, mod, calls, timeout=None):
        """Node.steps: each call made while the one before answered ok; the status after a full chain."""
        made, ok = [], True
        for fun, args in calls:
            made.append(self.rpc(mod, fun, args) if ok else None)
            result = made[-1][0] if ok else None
            ok = ok and (result == "ok" or (isinstance(result, tuple) and result[0] == "ok"))
        return made, (self.status() if ok else None)

    def rpc(self, mod, fun, args="[]", timeout=None):
        FakeNode.calls.append((fun, args))
        match = VERSION_ARG.match(args)
        version = match.group(1).split("/")[0] if match else None
        known = [v for v, _s in FakeNode.releases]
        if fun == "restart":  # init:restart: the VM boots its permanent release again
            FakeNode.releases = [[v, "unpacked" if s == "current" else s] for v, s in FakeNode.releases]
            FakeNode.marker += 1
            return "ok", 0
        if version not in known and fun != "unpack_release":
            return ("error", ("unknown_release", version)), 0
        if fun == "unpack_release":
            FakeNode.releases.insert(0, [version, "unpacked"])
            return ("ok", version), 0
        if fun == "check_install_release":
            return ("ok", "x", []), 0
        if fun == "install_release":
            self.promote(version, "current", "unpacked")
            return ("ok", "x", []), 0
        if fun == "make_permanent":
            self.promote(version, "permanent", "old")
            return "ok", 0
        return ("error", "unexpected call"), 0


@pytest.fixture
def node(monkeypatch):
    monkeypatch.setattr(_otp, "Node", FakeNode)  # as release_node() builds it
    monkeypatch.setattr(hot_upgrade.time, "sleep", lambda _seconds: None)
    return FakeNode


def release_dir(tmp_path, script_vsn="1.1.0", versions=("1.0.0", "1.1.0"), record=None):
    """A relx-like release directory: bin/app (booting script_vsn) and bin/app-<vsn> for each version."""
    root = tmp_path / "app"
    (root / "bin").mkdir(parents=True)
    (root / "releases").mkdir()
    (root / "bin" / "app").write_text(f'#!/bin/sh\nREL_VSN="{script_vsn}"\n')
    for vsn in versions:
        (root / "bin" / f"app-{vsn}").write_text(f'#!/bin/sh\nREL_VSN="{vsn}"\n')
    if record is not None:
        (root / "releases" / ".beamops-hot-upgrade.json").write_text(json.dumps(record))
    return root


def read_record(root):
    return json.loads((root / "releases" / ".beamops-hot-upgrade.json").read_text())


def rollback(run_module, root, **extra):
    return run_module(hot_upgrade, {"name": "app", "root": str(root), "state": "rolled_back", **extra})


def test_rollback_of_an_install_never_made_permanent_restarts_onto_the_permanent_release(tmp_path, node, run_module):
    node.reset([("1.1.0", "current"), ("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0")
    result = rollback(run_module, root)
    assert not result.get("failed"), result
    assert result["changed"] and result["node_restarted"]
    assert (result["from_version"], result["version"], result["permanent_version"]) == ("1.1.0", "1.0.0", "1.0.0")
    assert [fun for fun, _args in node.calls] == ["restart"]  # no install: the restart does it
    assert read_record(root) == {"version": "1.0.0", "rolled_back_to": "1.0.0", "rolled_back_from": "1.1.0"}


def test_rollback_of_a_permanent_upgrade_goes_back_where_the_record_says(tmp_path, node, run_module):
    # 1.0.5 is the newest old release, but the record says 1.1.0 came from 1.0.0.
    node.reset([("1.1.0", "permanent"), ("1.0.5", "old"), ("1.0.0", "old")])
    root = release_dir(
        tmp_path, versions=("1.0.0", "1.0.5", "1.1.0"), record={"version": "1.1.0", "from_version": "1.0.0"}
    )
    result = rollback(run_module, root)
    assert not result.get("failed"), result
    assert result["changed"] and not result["node_restarted"]
    assert (result["version"], result["permanent_version"]) == ("1.0.0", "1.0.0")
    assert node.calls == [("install_release", '["1.0.0", [{update_paths, true}]]'), ("make_permanent", '["1.0.0"]')]
    assert 'REL_VSN="1.0.0"' in (root / "bin" / "app").read_text()  # a cold start boots 1.0.0 now
    assert read_record(root)["rolled_back_to"] == "1.0.0"


def test_a_second_rollback_changes_nothing(tmp_path, node, run_module):
    node.reset([("1.1.0", "permanent"), ("1.0.0", "old")])
    root = release_dir(tmp_path, record={"version": "1.1.0", "from_version": "1.0.0"})
    first = rollback(run_module, root)
    second = rollback(run_module, root)
    assert first["changed"] and not second.get("failed") and not second["changed"]
    assert second["version"] == "1.0.0" and len(node.calls) == 2  # the first run's install and make_permanent


def test_rollback_in_check_mode_reports_a_change_and_makes_none(tmp_path, node, run_module):
    node.reset([("1.1.0", "permanent"), ("1.0.0", "old")])
    root = release_dir(tmp_path, record={"version": "1.1.0", "from_version": "1.0.0"})
    result = rollback(run_module, root, _ansible_check_mode=True)
    assert result["changed"] and result["version"] == "1.1.0" and node.calls == []
    assert read_record(root) == {"version": "1.1.0", "from_version": "1.0.0"}
    assert 'REL_VSN="1.1.0"' in (root / "bin" / "app").read_text()


def test_rollback_with_no_previous_release_fails_naming_the_releases(tmp_path, node, run_module):
    node.reset([("1.0.0", "permanent")])
    result = rollback(run_module, release_dir(tmp_path, script_vsn="1.0.0"))
    assert result["failed"] and node.calls == []
    assert "node app@host knows no previous release to roll back to" in result["msg"]


def test_rollback_to_a_version_the_node_does_not_know_fails_before_any_change(tmp_path, node, run_module):
    node.reset([("1.1.0", "permanent"), ("1.0.0", "old")])
    result = rollback(run_module, release_dir(tmp_path), version="0.9.0")
    assert result["failed"] and node.calls == []
    assert "node app@host does not know version 0.9.0" in result["msg"]


def test_rollback_refuses_a_node_that_does_not_answer(tmp_path, node, run_module):
    node.reset([], up=False)
    result = rollback(run_module, release_dir(tmp_path))
    assert result["failed"] and node.calls == []
    assert "node app@host cannot be reached, start it before rolling back: epmd at" in result["msg"]


def relup_tarball(path, version, relup):
    """A release tarball holding releases/<version>/relup (all hot_upgrade reads from it)."""
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"releases/{version}/relup")
        info.size = len(relup)
        tar.addfile(info, io.BytesIO(relup))
    return str(path)


def test_an_upgrade_records_where_it_came_from_and_the_rollback_returns_there(tmp_path, node, run_module):
    # 1.0.5 is the newest old release; the upgrade to 1.1.0 came from 1.0.0 (then permanent).
    node.reset([("1.0.5", "old"), ("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0", versions=("1.0.0", "1.0.5", "1.1.0"))
    relup = b'{"1.1.0",[{"1.0.0",[],[]}],[{"1.0.0",[],[]}]}.\n'
    tarball = relup_tarball(tmp_path / "app-1.1.0.tar.gz", "1.1.0", relup)
    up = run_module(hot_upgrade, {"name": "app", "root": str(root), "version": "1.1.0", "tarball": tarball})
    assert not up.get("failed"), up
    assert (up["from_version"], up["version"], up["permanent_version"]) == ("1.0.0", "1.1.0", "1.1.0")
    assert up["relup_from"] == ["1.0.0"] and (root / "releases" / "1.1.0" / "app.tar.gz").is_file()
    assert read_record(root) == {"version": "1.1.0", "from_version": "1.0.0"}
    back = rollback(run_module, root)
    assert not back.get("failed"), back
    assert (back["version"], back["permanent_version"]) == ("1.0.0", "1.0.0")


def test_install_then_make_permanent_as_the_strategies_call_it(tmp_path, node, run_module):
    node.reset([("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0", versions=("1.0.0", "1.1.0"))
    relup = b'{"1.1.0",[{"1.0.0",[],[]}],[{"1.0.0",[],[]}]}.\n'
    tarball = relup_tarball(tmp_path / "app-1.1.0.tar.gz", "1.1.0", relup)
    args = {"name": "app", "root": str(root), "version": "1.1.0", "tarball": tarball}
    installed = run_module(hot_upgrade, dict(args, permanent=False))
    assert not installed.get("failed"), installed
    assert (installed["version"], installed["permanent_version"]) == ("1.1.0", "1.0.0")
    assert [fun for fun, _a in node.calls] == ["unpack_release", "check_install_release", "install_release"]
    node.calls.clear()
    permanent = run_module(hot_upgrade, args)
    assert not permanent.get("failed") and permanent["changed"], permanent
    assert (permanent["version"], permanent["permanent_version"]) == ("1.1.0", "1.1.0")
    assert [fun for fun, _a in node.calls] == ["make_permanent"]
    node.calls.clear()
    again = run_module(hot_upgrade, args)
    assert not again.get("failed") and node.calls == []  # permanent already: nothing asked of release_handler


# --- options that would name paths outside the release tree ------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "state"),
    [
        ("version", "../../../escaped", "present"),
        ("version", "1.1.0/../../escaped", "present"),
        ("version", "..", "present"),
        ("version", ".", "present"),
        ("version", "../escaped", "rolled_back"),
        ("name", "../app", "present"),
    ],
)
def test_a_version_or_name_that_is_not_one_path_component_is_refused_before_anything(
    tmp_path, node, run_module, option, value, state
):
    node.reset([("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0", versions=("1.0.0",))
    tarball = relup_tarball(tmp_path / "app-x.tar.gz", "x", b'{"x",[{"1.0.0",[],[]}],[]}.\n')
    args = {"name": "app", "root": str(root), "version": "1.1.0", "tarball": tarball, "state": state}
    args[option] = value
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = run_module(hot_upgrade, args)
    assert result["failed"] is True
    assert f"{option} {value!r} is refused" in result["msg"] and "nothing was done" in result["msg"]
    assert node.calls == []  # the node was not asked anything
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing staged, inside the tree or out


def test_a_rollback_target_from_the_record_that_is_not_a_version_is_refused(tmp_path, node, run_module):
    node.reset([("1.1.0", "permanent"), ("1.0.0", "old")])
    root = release_dir(tmp_path, record={"version": "1.1.0", "from_version": "../../escaped"})
    result = rollback(run_module, root)
    assert result["failed"] is True
    assert "'../../escaped', is not a version" in result["msg"] and ".beamops-hot-upgrade.json" in result["msg"]
    assert node.calls == []


def test_a_start_script_that_is_a_fifo_is_named_and_not_read(tmp_path, node, run_module):
    root = release_dir(tmp_path)
    (root / "bin" / "app").unlink()
    os.mkfifo(root / "bin" / "app")
    result = rollback(run_module, root)
    assert result["failed"] is True and "is not a regular file (a FIFO)" in result["msg"]


def upgrade(run_module, root, **extra):
    return run_module(hot_upgrade, {"name": "app", "root": str(root), "version": "1.1.0", **extra})


@pytest.fixture
def endpoint(serve_http):
    """endpoint(status) -> a probe URL answering status, each GET recorded in the node's calls (in order)."""

    def make(status):
        def respond(_handler):
            FakeNode.calls.append(("GET", str(status)))
            return status, b"{}", {}

        return serve_http(respond) + "/health"

    return make


def test_the_probe_runs_before_make_permanent_and_once_after_in_the_same_call(tmp_path, node, run_module, endpoint):
    node.reset([("1.1.0", "current"), ("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0")
    probe = {"url": endpoint(200), "successes": 2, "interval_s": 0.01}
    result = upgrade(run_module, root, probe=probe)
    assert not result.get("failed"), result
    assert [fun for fun, _args in node.calls] == ["GET", "GET", "make_permanent", "GET"]
    assert (result["probe"]["successes"], result["probe_permanent"]["successes"]) == (2, 1)
    assert result["changed"] and result["permanent_version"] == "1.1.0"
    assert {"probe", "probe_permanent"} <= set(result["timings_ms"])


def test_a_failed_probe_leaves_the_release_not_permanent_and_says_so(tmp_path, node, run_module, endpoint):
    node.reset([("1.1.0", "current"), ("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0")
    probe = {"url": endpoint(503), "successes": 2, "retries": 1, "interval_s": 0.01}
    result = upgrade(run_module, root, probe=probe)
    assert result["failed"] and "make_permanent" not in [fun for fun, _args in node.calls]
    assert "http probe of" in result["msg"] and "installed and not permanent: a VM restart boots 1.0.0" in result["msg"]
    assert result["probe"]["successes"] == 0 and "probe_permanent" not in result


def test_without_a_probe_the_read_makes_it_permanent_and_a_bad_probe_is_refused(tmp_path, node, run_module):
    node.reset([("1.1.0", "current"), ("1.0.0", "permanent")])
    root = release_dir(tmp_path, script_vsn="1.0.0")
    bad = upgrade(run_module, root, probe={"url": "ftp://x/health"})
    assert bad["failed"] and "Invalid probe.url" in bad["msg"] and node.calls == []
    result = upgrade(run_module, root)
    assert not result.get("failed"), result
    assert [fun for fun, _args in node.calls] == ["make_permanent"] and "probe" not in result
