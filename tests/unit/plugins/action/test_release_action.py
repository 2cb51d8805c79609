# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release action plugin's decisions: refuse before sending anything, send the tarball only when the
target does not keep the same bytes, never in check mode, and give the module the controller's SHA-256.

The target is this machine: a fake connection copies files, stat answers from the local file system,
and the real release module runs on a temporary root. Only the transport is faked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading

import pytest
from ansible.errors import AnsibleError
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.shell.sh import ShellModule

from ansible_collections.beamops.deploy.plugins.action.release import ActionModule
from ansible_collections.beamops.deploy.plugins.modules import release


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class FakeTask:
    action = "beamops.deploy.release"
    async_val = 0

    def __init__(self, args, check_mode, search_dir):
        self.args = args
        self.check_mode = check_mode
        self.search_dir = search_dir

    def get_search_path(self):
        return [self.search_dir]


class FakeConnection:
    """Puts files by copying them; its shell's temporary directory is a local one."""

    def __init__(self, tmpdir):
        self._shell = ShellModule()
        self._shell.tmpdir = tmpdir
        self.put = []

    def put_file(self, local, remote):
        self.put.append((local, remote))
        shutil.copy(local, remote)


class PlayContext:
    def __init__(self, check_mode):
        self.check_mode = check_mode


class Target:
    """Runs the action plugin against this machine and records what it asked the target."""

    def __init__(self, tmp_path, capsys, monkeypatch):
        self.tmp_path = tmp_path
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.root = tmp_path / "opt" / "app"
        self.controller = tmp_path / "controller"
        self.controller.mkdir()
        self.calls = []  # (module name, args) in order
        self.stat_error = None
        self.removed = []

    def execute_module(self, module_name, module_args, task_vars, check_mode):
        self.calls.append((module_name, dict(module_args)))
        if module_name == "ansible.legacy.stat":
            if self.stat_error:
                return {"failed": True, "msg": self.stat_error}
            path = module_args["path"]
            if not os.path.lexists(path):
                return {"stat": {"exists": False}}
            isreg = os.path.isfile(path) and not os.path.islink(path)
            return {"stat": {"exists": True, "isreg": isreg, **({"checksum": sha256(path)} if isreg else {})}}
        assert module_name == "beamops.deploy.release"
        with patch_module_args({**module_args, "_ansible_check_mode": check_mode}), pytest.raises(SystemExit):
            release.main()
        return json.loads(self.capsys.readouterr().out)

    def run(self, args, check=False):
        tmpdir = self.tmp_path / f"remote-tmp-{len(self.removed)}"
        tmpdir.mkdir()
        connection = FakeConnection(str(tmpdir))
        action = ActionModule(
            FakeTask(dict(args), check, str(self.controller)), connection, PlayContext(check), DataLoader(), None
        )
        self.monkeypatch.setattr(
            action,
            "_execute_module",
            lambda module_name, module_args, task_vars: self.execute_module(module_name, module_args, task_vars, check),
        )
        self.monkeypatch.setattr(action, "_fixup_perms2", lambda paths: None)
        self.monkeypatch.setattr(action, "_remove_tmp_path", self.removed.append)
        self.calls = []
        result = action.run(task_vars={})
        self.put = connection.put
        return result

    def tarball(self, build, version):
        return build(self.controller / f"app-{version}.tar.gz", version=version)

    def deploy_args(self, version, src, **extra):
        return {"name": "app", "version": version, "root": str(self.root), "src": src, **extra}

    def modules(self):
        return [name for name, _args in self.calls]

    def release_args(self):
        return next(args for name, args in self.calls if name == "beamops.deploy.release")


@pytest.fixture
def target(tmp_path, capsys, monkeypatch):
    return Target(tmp_path, capsys, monkeypatch)


def test_the_first_deploy_sends_the_tarball_and_the_module_checks_the_controllers_sha256(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    result = target.run(target.deploy_args("1.0.0", src, state="current"))
    assert not result.get("failed"), result
    assert result["changed"] and result["transferred"] is True and result["current"] == "1.0.0"
    remote = os.path.join(target.tmp_path, "remote-tmp-0", "release.tar.gz")
    assert target.put == [(src, remote)]
    assert target.release_args()["src"] == remote and target.release_args()["checksum"] == sha256(src)
    assert target.removed == [str(target.tmp_path / "remote-tmp-0")]


def test_a_tarball_the_target_keeps_with_the_same_bytes_is_not_sent_again(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    target.run(target.deploy_args("1.0.0", src))
    result = target.run(target.deploy_args("1.0.0", src, state="current"))
    assert not result.get("failed"), result
    assert result["transferred"] is False and target.put == []
    kept = str(target.root / ".beamops" / "tarballs" / "app-1.0.0.tar.gz")
    assert target.calls[0] == (
        "ansible.legacy.stat",
        {"path": kept, "follow": False, "get_checksum": True, "checksum_algorithm": "sha256"},
    )
    assert target.release_args()["src"] == kept and result["current"] == "1.0.0"


def test_a_kept_tarball_with_other_bytes_is_sent_and_the_module_refuses_the_rebuild(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    target.run(target.deploy_args("1.0.0", src))
    rebuilt = release_tarball(target.controller / "app-1.0.0.tar.gz", version="1.0.0", extra=b"%% rebuilt\n")
    result = target.run(target.deploy_args("1.0.0", rebuilt))
    assert result["transferred"] is True and len(target.put) == 1
    assert result["failed"] and target.release_args()["checksum"] == sha256(rebuilt)
    assert "rebuilt tarball refused of release app 1.0.0" in result["msg"]


def test_a_refusal_names_the_tarball_as_the_user_knows_it_not_its_temporary_copy(target):
    garbage = target.controller / "app-1.0.0.tar.gz"
    garbage.write_bytes(b"this is no tarball\n")
    result = target.run(target.deploy_args("1.0.0", str(garbage)))
    assert result["failed"] and result["transferred"] is True
    remote = target.release_args()["src"]
    assert f"{garbage} (sent to the target)" in result["msg"] and remote not in result["msg"]


def test_check_mode_sends_nothing_and_still_reports_the_change(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    result = target.run(target.deploy_args("1.0.0", src, state="current"), check=True)
    assert not result.get("failed"), result
    assert result["changed"] and result["transferred"] is False and target.put == []
    assert target.release_args()["src"] is None and target.release_args()["checksum"] == sha256(src)
    assert not target.root.exists()


def test_a_checksum_mismatch_is_refused_before_anything_is_asked_or_sent(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    result = target.run(target.deploy_args("1.0.0", src, checksum="0" * 64))
    assert result["failed"] and result["transferred"] is False
    assert f"checksum mismatch of release app 1.0.0 in {src}: sha256 is {sha256(src)}, not {'0' * 64}" in result["msg"]
    assert "nothing was sent" in result["msg"] and target.calls == [] and target.put == []


def test_a_checksum_in_capitals_is_the_same_checksum(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    result = target.run(target.deploy_args("1.0.0", src, checksum=sha256(src).upper()))
    assert not result.get("failed"), result
    assert target.release_args()["checksum"] == sha256(src)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"version": "../1.0.0"}, "invalid name or version app ../1.0.0: it contains a path separator"),
        ({"name": "a pp"}, "invalid name or version a pp 1.0.0: "),
        ({"state": "staged", "src": None}, "state=staged of release app 1.0.0 needs src (a tarball)"),
        ({"src": "no-such.tar.gz"}, "release tarball no-such.tar.gz not found on the controller"),
    ],
)
def test_bad_input_is_refused_before_the_target_is_asked(target, release_tarball, args, message):
    src = target.tarball(release_tarball, "1.0.0")
    result = target.run({**target.deploy_args("1.0.0", src), **args})
    assert result["failed"] and message in result["msg"] and result["transferred"] is False
    assert target.calls == [] and target.put == []


def test_a_stat_that_fails_is_reported_and_nothing_is_sent(target, release_tarball):
    target.stat_error = "permission denied"
    result = target.run(target.deploy_args("1.0.0", target.tarball(release_tarball, "1.0.0")))
    assert result["failed"] and target.put == [] and target.modules() == ["ansible.legacy.stat"]
    assert "could not stat" in result["msg"] and "on the target: permission denied" in result["msg"]
    assert len(target.removed) == 1  # the temporary directory is removed on failure too


def test_absent_goes_to_the_module_without_a_stat(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    target.run(target.deploy_args("1.0.0", src))
    target.run(target.deploy_args("1.1.0", target.tarball(release_tarball, "1.1.0"), state="current"))
    result = target.run({"name": "app", "version": "1.0.0", "root": str(target.root), "state": "absent"})
    assert not result.get("failed"), result
    assert target.modules() == ["beamops.deploy.release"] and result["transferred"] is False


def test_errors_from_the_controller_side_become_a_failed_result(target, release_tarball, monkeypatch):
    src = target.tarball(release_tarball, "1.0.0")

    def broken(*_args):
        raise AnsibleError("connection lost")

    monkeypatch.setattr(FakeConnection, "put_file", broken)
    result = target.run(target.deploy_args("1.0.0", src))
    assert result["failed"] and "connection lost" in result["msg"] and result["transferred"] is False


def test_a_fifo_as_the_tarball_on_the_controller_is_refused_at_once(target):
    fifo = target.controller / "app-1.0.0.tar.gz"
    os.mkfifo(fifo)
    rescue = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_RDWR)))  # ends a read that blocks
    rescue.daemon = True
    rescue.start()
    result = target.run(target.deploy_args("1.0.0", str(fifo)))
    rescue.cancel()
    assert result["failed"] and f"release tarball {fifo} cannot be read on the controller" in result["msg"]
    assert "not a regular file (a FIFO)" in result["msg"]
    assert target.calls == [] and target.put == []


def test_a_kept_sha256_given_by_the_caller_spares_the_stat(target, release_tarball):
    src = target.tarball(release_tarball, "1.0.0")
    first = target.run(target.deploy_args("1.0.0", src, kept_sha256=""))
    assert not first.get("failed"), first
    assert target.modules() == ["beamops.deploy.release"] and first["transferred"] is True
    kept = str(target.root / ".beamops" / "tarballs" / "app-1.0.0.tar.gz")
    again = target.run(target.deploy_args("1.0.0", src, state="current", kept_sha256=sha256(kept)))
    assert target.modules() == ["beamops.deploy.release"] and again["transferred"] is False
    assert target.release_args()["src"] == kept and "kept_sha256" not in target.release_args()
    # A stale answer (the kept copy changed since it was read) is caught by the module's own check.
    with open(kept, "ab") as handle:
        handle.write(b"changed")
    stale = target.run(target.deploy_args("1.0.0", src, kept_sha256=sha256(src)))
    assert stale["failed"] and target.put == []
