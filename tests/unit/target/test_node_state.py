# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_node_state's identity of a node: the node role's record, else the root's owner; and the cookie home
of the node's user when a module runs as root."""

from __future__ import annotations

import grp
import json
import os
import pwd

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _node_state


def test_the_node_roles_record_is_the_identity(tmp_path):
    (tmp_path / ".beamops").mkdir()
    record = {"user": "app", "group": "app", "home": "/srv/app", "service_manager": "systemd", "service_name": "app"}
    (tmp_path / ".beamops" / "node.json").write_text(json.dumps({**record, "http_port": 8080}))
    identity = _node_state.read_identity(str(tmp_path), "app")
    assert identity == {**record, "http_port": 8080, "recorded": True}


@pytest.mark.parametrize("content", [None, "{half", "[1, 2]", '{"user": ""}'])
def test_without_a_usable_record_the_owner_of_the_root_runs_it(tmp_path, content):
    if content is not None:
        (tmp_path / ".beamops").mkdir()
        (tmp_path / ".beamops" / "node.json").write_text(content)
    st = os.stat(tmp_path)
    identity = _node_state.read_identity(str(tmp_path), "app")
    assert identity == {
        "user": pwd.getpwuid(st.st_uid).pw_name,
        "group": grp.getgrgid(st.st_gid).gr_name,
        "home": pwd.getpwuid(st.st_uid).pw_dir,
        "service_manager": "auto",
        "service_name": "app",
        "recorded": False,
    }


def test_a_fifo_as_record_is_not_read(tmp_path):
    (tmp_path / ".beamops").mkdir()
    os.mkfifo(tmp_path / ".beamops" / "node.json")
    assert _node_state.read_identity(str(tmp_path), "app")["recorded"] is False


def test_a_missing_root_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        _node_state.read_identity(str(tmp_path / "nowhere"), "app")


@pytest.mark.skipif(os.geteuid() != 0, reason="the cookie home changes only when run as root")
def test_run_as_root_the_node_users_home_holds_the_cookie(monkeypatch):
    monkeypatch.setenv("HOME", "/root")
    other = next(u for u in pwd.getpwall() if u.pw_uid != 0 and u.pw_dir not in ("", "/"))
    _node_state.as_node_user(other.pw_name)
    assert os.environ["HOME"] == other.pw_dir
    _node_state.as_node_user("root")
    assert os.environ["HOME"] == other.pw_dir  # root's own: left as it is
    _node_state.as_node_user(other.pw_name, "/given")
    assert os.environ["HOME"] == "/given"
    with pytest.raises(KeyError):
        _node_state.as_node_user("no-such-user-here")
