# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_record: the root and the record made once and owned by the release's user, check mode and diff,
and the identity read back the way release_info reads it."""

from __future__ import annotations

import json
import os
import pwd
import stat
import sys
from pathlib import Path

import pytest
from ansible.plugins.filter.core import to_nice_json

from ansible_collections.beamops.deploy.plugins.module_utils import _node_state
from ansible_collections.beamops.deploy.plugins.modules import node_record

if os.geteuid() != 0:
    pytest.skip("node_record gives the root to the release's user: run as root", allow_module_level=True)

USER = {"user": "nobody", "group": "nogroup", "home": "/nonexistent"}
NOBODY = pwd.getpwnam("nobody").pw_uid


def present(root, **more):
    return {
        "root": str(root),
        "name": "app",
        **USER,
        "service_manager": "systemd",
        "service_name": "app",
        "http_port": 8080,
        **more,
    }


def owner_and_mode(path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, stat.S_IMODE(st.st_mode)


def test_a_root_is_made_and_recorded_once(run_module, tmp_path):
    root = tmp_path / "opt" / "app"
    made = run_module(node_record, present(root))
    assert made["changed"] and made["made"] == [str(root), f"{root}/releases", f"{root}/.beamops"]
    for path in made["made"]:
        assert owner_and_mode(path) == (NOBODY, 0o755)
    record = root / ".beamops" / "node.json"
    assert owner_and_mode(record) == (NOBODY, 0o644) and made["record_path"] == str(record)
    written = json.loads(record.read_text())
    assert written == {**USER, "service_manager": "systemd", "service_name": "app", "http_port": 8080}
    # The text Ansible's copy of to_nice_json wrote before: a node prepared then is not rewritten now.
    assert record.read_text() == to_nice_json(written) + "\n"
    again = run_module(node_record, present(root))
    assert not again["changed"] and again["made"] == [] and again["fixed"] == []
    # What release_info reads is what was recorded.
    assert _node_state.read_identity(str(root), "app") == {**written, "recorded": True}


def test_check_mode_writes_nothing_and_the_diff_shows_the_record(run_module, tmp_path):
    root = tmp_path / "app"
    would = run_module(node_record, present(root, _ansible_check_mode=True, _ansible_diff=True))
    assert would["changed"] and len(would["made"]) == 3 and not root.exists()
    assert json.loads(would["diff"]["after"])["service_manager"] == "systemd" and would["diff"]["before"] == ""
    run_module(node_record, present(root))
    moved = run_module(node_record, present(root, service_manager="script", _ansible_diff=True))
    assert moved["changed"] and moved["made"] == []
    assert '"systemd"' in moved["diff"]["before"] and '"script"' in moved["diff"]["after"]
    assert json.loads((root / ".beamops/node.json").read_text())["service_manager"] == "script"


def test_an_owner_or_mode_gone_astray_is_put_right(run_module, tmp_path):
    root = tmp_path / "app"
    run_module(node_record, present(root))
    os.chown(root / "releases", 0, 0)
    os.chmod(root / ".beamops" / "node.json", 0o600)
    would = run_module(node_record, present(root, _ansible_check_mode=True))
    assert would["changed"] and len(would["fixed"]) == 2 and owner_and_mode(root / "releases") == (0, 0o755)
    assert owner_and_mode(root / ".beamops" / "node.json") == (NOBODY, 0o600)
    fixed = run_module(node_record, present(root))
    assert fixed["changed"] and sorted(fixed["fixed"]) == [f"{root}/.beamops/node.json", f"{root}/releases"]
    assert owner_and_mode(root / "releases") == (NOBODY, 0o755)
    assert owner_and_mode(root / ".beamops" / "node.json") == (NOBODY, 0o644)


def test_read_gives_the_record_or_the_roots_owner_and_refuses_no_root(run_module, tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    os.chown(root, NOBODY, 65534)
    bare = run_module(node_record, {"root": str(root), "name": "app", "state": "read"})
    assert not bare["changed"]
    assert bare["identity"] == {
        "user": "nobody",
        "group": "nogroup",
        "home": "/nonexistent",
        "service_manager": "auto",
        "service_name": "app",
        "recorded": False,
    }
    run_module(node_record, present(root))
    assert run_module(node_record, {"root": str(root), "name": "app", "state": "read"})["identity"]["recorded"]
    missing = run_module(node_record, {"root": str(tmp_path / "none"), "name": "app", "state": "read"})
    assert (
        missing["failed"] and "There is no release root" in missing["msg"] and "beamops.deploy.node" in missing["msg"]
    )


def test_bad_input_is_refused_before_any_change(run_module, tmp_path):
    root = tmp_path / "app"
    no_user = run_module(node_record, present(root, user="no-such-user-here"))
    assert no_user["failed"] and "No such user or group" in no_user["msg"] and not root.exists()
    # In check mode the play's user task made no user yet: what the user would own counts as changing.
    run_module(node_record, present(root))
    would = run_module(node_record, present(root, user="no-such-user-here", _ansible_check_mode=True))
    assert would["changed"] and len(would["fixed"]) == 3 and owner_and_mode(root) == (NOBODY, 0o755)
    root = tmp_path / "app2"
    short = run_module(node_record, {"root": str(root), "name": "app"})
    assert short["failed"] and "user" in short["msg"]
    bad_name = run_module(node_record, present(root, name="../x"))
    assert bad_name["failed"] and "Invalid name" in bad_name["msg"] and not root.exists()
    (tmp_path / "file").write_text("")
    not_dir = run_module(node_record, present(tmp_path / "file"))
    assert not_dir["failed"] and "is not a directory" in not_dir["msg"]


def test_the_node_roles_identity_entry_point_reads_the_record(run_module, tmp_path, ansible_playbook):
    """tasks_from: identity, as a user's own play includes it: __node_identity from the record."""
    root = tmp_path / "app"
    run_module(node_record, present(root))
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role: {name: beamops.deploy.node, tasks_from: identity}\n"
        "    - ansible.builtin.copy: {content: '{{ __node_identity | to_json }}', dest: '{{ out }}', mode: '0644'}\n"
    )
    collections = Path(node_record.__file__).parents[5]  # .../ansible_collections/beamops/deploy/plugins/modules
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1")
    extra = {"node_app_name": "app", "node_app_root": str(root), "out": str(tmp_path / "out.json")}
    extra["ansible_python_interpreter"] = sys.executable
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(extra), env=env)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert json.loads((tmp_path / "out.json").read_text()) == {
        **USER,
        "service_manager": "systemd",
        "service_name": "app",
        "http_port": 8080,
        "recorded": True,
    }
    extra["node_app_root"] = str(tmp_path / "none")
    run = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(extra), env=env)
    assert run.returncode != 0 and "There is no release root" in run.stdout + run.stderr
