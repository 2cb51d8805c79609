# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report_file writes on the control node in the controller's process: no module is executed, a file
is replaced whole, nothing is written in check mode, bad arguments are refused by name."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.shell.sh import ShellModule

from ansible_collections.beamops.deploy.plugins.action.report_file import ActionModule


class FakeTask:
    action = "beamops.deploy.report_file"
    async_val = 0

    def __init__(self, args, check_mode):
        self.args = args
        self.check_mode = check_mode


class FakeConnection:
    """A connection whose temporary directory exists already: the base action makes none."""

    def __init__(self):
        self._shell = ShellModule()
        self._shell.tmpdir = "/nonexistent/beamops-test"


class PlayContext:
    def __init__(self, check_mode):
        self.check_mode = check_mode


def run(args, check=False):
    action = ActionModule(FakeTask(args, check), FakeConnection(), PlayContext(check), DataLoader(), None, None)

    def no_module(*_a, **_k):
        raise AssertionError("report_file must not execute a module")

    action._execute_module = no_module
    return action.run(task_vars={})


def test_writes_a_file_and_its_directory_then_reports_no_change_for_the_same_content(tmp_path):
    path = tmp_path / "reports" / "app-1.1.0.json"
    first = run({"path": str(path), "content": '{"a": 1}\n'})
    assert first["changed"] and not first.get("failed")
    assert path.read_text() == '{"a": 1}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    again = run({"path": str(path), "content": '{"a": 1}\n'})
    assert not again["changed"]
    other = run({"path": str(path), "content": '{"a": 2}\n', "mode": "0600"})
    assert other["changed"] and path.read_text() == '{"a": 2}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ["app-1.1.0.json"]  # no temporary file left beside it


def test_directory_and_absent(tmp_path):
    records = tmp_path / ".app.json.d"
    assert run({"path": str(records), "state": "directory"})["changed"]
    (records / "node1.json").write_text("{}")
    assert not run({"path": str(records), "state": "directory"})["changed"]
    assert run({"path": str(records), "state": "absent"})["changed"]
    assert not records.exists()
    assert not run({"path": str(records), "state": "absent"})["changed"]


def test_a_relative_path_is_taken_from_the_directory_the_run_starts_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run({"path": "reports/r.json", "content": "{}"})
    assert result["path"] == str(tmp_path / "reports" / "r.json") and (tmp_path / "reports" / "r.json").is_file()


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "r.md"
    result = run({"path": str(path), "content": "x"}, check=True)
    assert not result["changed"] and not result.get("failed")
    assert not path.exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"content": "x"}, "path is required"),
        ({"path": "/tmp/r.json"}, "needs content"),
        ({"path": "/tmp/r.json", "content": "x", "state": "link"}, "state must be one of"),
        ({"path": "/tmp/r.json", "content": "x", "mode": "rw"}, "mode must be octal"),
    ],
)
def test_bad_arguments_are_refused_by_name(args, says):
    result = run(args)
    assert result["failed"] and says in result["msg"]


@pytest.mark.parametrize("mode", ["4777", "2755", "1777", "7777", "01000", "10000"])
def test_a_mode_beyond_the_permission_bits_is_refused(tmp_path, mode):
    path = tmp_path / "r.json"
    result = run({"path": str(path), "content": "{}", "mode": mode})
    assert result["failed"] and f"mode {mode!r} is refused" in result["msg"] and "0644" in result["msg"]
    assert not path.exists()


def test_the_same_content_behind_a_symlink_never_changes_the_target_mode(tmp_path):
    victim = tmp_path / "elsewhere" / "secret"
    victim.parent.mkdir()
    victim.write_text("{}")
    victim.chmod(0o600)
    path = tmp_path / "reports" / "r.json"
    path.parent.mkdir()
    path.symlink_to(victim)
    result = run({"path": str(path), "content": "{}", "mode": "0666"})
    assert result["changed"] and not result.get("failed")
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600 and victim.read_text() == "{}"
    assert not path.is_symlink() and path.read_text() == "{}"  # the link was replaced by the report
    assert stat.S_IMODE(path.stat().st_mode) == 0o666


def test_a_mode_change_alone_is_a_change(tmp_path):
    path = tmp_path / "r.json"
    run({"path": str(path), "content": "{}"})
    result = run({"path": str(path), "content": "{}", "mode": "0600"})
    assert result["changed"] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not run({"path": str(path), "content": "{}", "mode": "0600"})["changed"]


def test_a_fifo_at_the_path_is_replaced_not_read(tmp_path):
    path = tmp_path / "r.json"
    os.mkfifo(path)
    rescue = threading.Timer(5, lambda: os.close(os.open(path, os.O_RDWR)))  # ends a read that blocks
    rescue.daemon = True
    rescue.start()
    started = time.monotonic()
    result = run({"path": str(path), "content": "{}"})
    rescue.cancel()
    assert time.monotonic() - started < 4
    assert result["changed"] and path.read_text() == "{}"
