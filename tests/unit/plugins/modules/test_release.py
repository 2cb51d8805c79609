# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release module on a temporary root: states, idempotence, check mode, refusals, pruning."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.beamops.deploy.plugins.module_utils import _otp, _release
from ansible_collections.beamops.deploy.plugins.modules import hot_upgrade, release


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Node:
    """A release root plus the tarballs of a fake controller; run() calls the module like the action."""

    def __init__(self, tmp_path, capsys, build):
        self.build = build
        self.root = tmp_path / "opt" / "app"
        self.root.mkdir(parents=True)
        self.dist = tmp_path / "dist"
        self.dist.mkdir()
        self.upload = tmp_path / "upload"
        self.capsys = capsys

    def tarball(self, version, **kw):
        return self.build(self.dist / f"app-{version}.tar.gz", version=version, **kw)

    def run(self, version, check=False, src=None, **args):
        params = {"name": "app", "version": version, "root": str(self.root), **args}
        params.update(_ansible_check_mode=check, _ansible_diff=True)
        if src:
            kept = self.root / ".beamops" / "tarballs" / f"app-{version}.tar.gz"
            params["checksum"] = params.get("checksum") or sha(src)
            if kept.is_file() and sha(kept) == sha(src):
                params["src"] = str(kept)
            elif not check:
                self.upload.mkdir(exist_ok=True)
                shutil.copy(src, self.upload / "release.tar.gz")
                params["src"] = str(self.upload / "release.tar.gz")
        with patch_module_args(params), pytest.raises(SystemExit):
            release.main()
        return json.loads(self.capsys.readouterr().out)

    def history(self):
        return json.loads((self.root / ".beamops" / "history.json").read_text())

    def listing(self):
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))


@pytest.fixture
def node(tmp_path, capsys, release_tarball):
    return Node(tmp_path, capsys, release_tarball)


def test_a_rebuilt_test_tarball_has_the_same_sha256(node, monkeypatch):
    # gzip writes the current second in its header unless told otherwise: a rebuild a second later
    # had another SHA-256, and the module rightly refused it as a rebuilt tarball (a flaky test).
    first = sha(node.tarball("1.0.0"))
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 5)
    assert sha(node.tarball("1.0.0")) == first


def test_present_then_current_then_idempotent(node):
    src = node.tarball("1.0.0")
    first = node.run("1.0.0", src=src)
    assert first["changed"] is True
    assert first["versions"] == ["1.0.0"] and first["current"] is None
    assert (node.root / "releases/1.0.0/bin/app").is_file()
    assert (node.root / ".beamops/tarballs/app-1.0.0.tar.gz").is_file()
    second = node.run("1.0.0", src=src, state="current")
    assert second["changed"] is True and second["current"] == "1.0.0"
    assert os.readlink(node.root / "current") == "releases/1.0.0"
    again = node.run("1.0.0", src=src, state="current")
    assert again["changed"] is False
    assert again["diff"]["before"] == again["diff"]["after"]


def test_switch_remembers_previous(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    assert result["current"] == "1.1.0" and result["previous"] == "1.0.0"
    assert result["diff"]["before"] == {"current": "1.0.0", "versions": ["1.0.0"]}
    assert result["diff"]["after"] == {"current": "1.1.0", "versions": ["1.0.0", "1.1.0"]}
    history = node.history()
    assert history["previous"] == "1.0.0"
    assert history["events"][-1]["from"] == "1.0.0" and history["events"][-1]["to"] == "1.1.0"


def test_check_mode_changes_nothing(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    before = node.listing()
    src = node.tarball("1.1.0")
    result = node.run("1.1.0", check=True, src=src, state="current", keep=1)
    assert result["changed"] is True
    assert result["current"] == "1.1.0" and result["versions"] == ["1.0.0", "1.1.0"]
    assert node.listing() == before


def test_checksum_mismatch_refused_before_any_change(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    before = node.listing()
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="current", checksum="0" * 64)
    assert result["failed"] is True
    assert "checksum mismatch" in result["msg"] and "1.1.0" in result["msg"]
    assert result["release_dir"].endswith("releases/1.1.0")
    assert not {"uid", "gid", "mode", "owner", "size", "state"} & set(result)
    assert node.listing() == before


@pytest.mark.parametrize("version", ["../1.0.0", "1..0", "a/b", ""])
def test_bad_version_fails_before_anything(node, version):
    result = node.run(version, src=node.tarball("1.0.0"))
    assert result["failed"] is True and "invalid version" in result["msg"]
    assert node.listing() == []


def test_wrong_tarball_refused(node):
    result = node.run("1.2.0", src=node.tarball("1.1.0"))
    assert result["failed"] is True and "no releases/1.2.0/app.rel" in result["msg"]
    assert not (node.root / "releases/1.2.0").exists()


def test_hostile_tarball_refused_nothing_written(node, tmp_path):
    evil = node.dist / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as archive:
        for member in ("releases/1.1.0/app.rel", "../../outside"):
            info = tarfile.TarInfo(member)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
    result = node.run("1.1.0", src=str(evil))
    assert result["failed"] is True and "'..' component" in result["msg"]
    assert not (tmp_path / "outside").exists() and not (node.root / "releases/1.1.0").exists()


def test_rebuilt_tarball_refused_unless_forced_and_not_current(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"))
    rebuilt = node.tarball("1.1.0", extra=b"%% rebuilt\n")
    refused = node.run("1.1.0", src=rebuilt)
    assert refused["failed"] is True and "new version" in refused["msg"]
    forced = node.run("1.1.0", src=rebuilt, force=True)
    assert forced["changed"] is True and forced["sha256"] == sha(rebuilt)
    assert b"rebuilt" in (node.root / "releases/1.1.0/releases/1.1.0/app.rel").read_bytes()
    rebuilt_current = node.tarball("1.0.0", extra=b"%% rebuilt\n")
    current = node.run("1.0.0", src=rebuilt_current, force=True)
    assert current["failed"] is True and "current" in current["msg"]


def test_absent_refuses_current_and_previous(node):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        node.run(version, src=node.tarball(version), state="current")
    for version in ("1.2.0", "1.1.0"):
        refused = node.run(version, state="absent")
        assert refused["failed"] is True and "refused to remove" in refused["msg"]
    removed = node.run("1.0.0", state="absent")
    assert removed["changed"] is True and removed["versions"] == ["1.1.0", "1.2.0"]
    assert not (node.root / ".beamops/tarballs/app-1.0.0.tar.gz").exists()
    assert node.run("1.0.0", state="absent")["changed"] is False


def test_keep_prunes_oldest_never_current_or_previous(node):
    for i, version in enumerate(("1.0.0", "1.1.0", "1.2.0", "1.3.0")):
        node.run(version, src=node.tarball(version))
        node.history()  # written
        os.utime(node.root / "releases" / version, (1000 + i, 1000 + i))
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="current", keep=2)
    assert result["pruned"] == ["1.2.0", "1.3.0"]
    assert result["versions"] == ["1.0.0", "1.1.0"]
    assert sorted(os.listdir(node.root / "releases")) == ["1.0.0", "1.1.0"]
    assert node.run("1.1.0", src=node.tarball("1.1.0"), state="current", keep=1)["changed"] is False


def test_staged_puts_tarball_in_running_release(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    src = node.tarball("1.1.0")
    check = node.run("1.1.0", check=True, src=src, state="staged")
    staged = node.root / "releases/1.0.0/releases/1.1.0/app.tar.gz"
    assert check["changed"] is True and not staged.exists()
    result = node.run("1.1.0", src=src, state="staged")
    assert result["changed"] is True
    assert result["staged_path"] == str(node.root / "current/releases/1.1.0/app.tar.gz")
    assert sha(staged) == sha(src)
    assert not (node.root / "releases/1.1.0").exists()
    assert node.run("1.1.0", src=src, state="staged")["changed"] is False
    staged.unlink()  # release_handler unpacked it: the .rel is there, the tarball gone
    (staged.parent / "app.rel").write_text("{release, ...}.\n")
    assert node.run("1.1.0", src=src, state="staged")["changed"] is False


def test_patch_places_a_rebuild_of_an_installed_version_beside_the_deploy_state(node):
    original = node.tarball("1.0.0")
    node.run("1.0.0", src=original, state="current")
    kept = node.root / ".beamops/tarballs/app-1.0.0.tar.gz"
    # The same version with other files: a patched build.
    rebuild = node.build(node.dist / "app-1.0.0-patched.tar.gz", version="1.0.0", files=2)
    assert sha(rebuild) != sha(original)
    check = node.run("1.0.0", check=True, src=rebuild, state="patch")
    placed = node.root / ".beamops/patches/app-1.0.0.tar.gz"
    assert check["changed"] is True and not placed.exists()
    result = node.run("1.0.0", src=rebuild, state="patch")
    assert result["changed"] is True and result["patch_tarball"] == str(placed), result
    assert sha(placed) == sha(rebuild) and stat.S_IMODE(placed.stat().st_mode) == 0o600
    assert sha(kept) == sha(original)  # the version's own tarball is kept as it was
    assert not list((node.root / "releases/1.0.0/lib/app-1.0.0/ebin").glob("m*.beam"))  # never unpacked
    assert node.history()["events"][-1]["action"] == "patch_placed"
    assert node.run("1.0.0", src=rebuild, state="patch")["changed"] is False


def test_patch_needs_the_version_installed(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="patch")
    assert result["failed"] is True and "deploy that version first" in result["msg"], result
    assert not (node.root / ".beamops/patches").exists()


def test_staged_needs_a_current_release(node):
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="staged")
    assert result["failed"] is True and "deploy a current release first" in result["msg"]


def test_adopts_a_release_unpacked_by_someone_else(node):
    src = node.tarball("1.0.0")
    target = node.root / "releases/1.0.0"
    target.mkdir(parents=True)
    with tarfile.open(src) as archive:
        archive.extractall(target)
    os.symlink("releases/1.0.0", node.root / "current")
    result = node.run("1.0.0", src=src, state="current")
    assert result["changed"] is False
    assert node.history()["versions"]["1.0.0"]["sha256"] == sha(src)
    assert "adopted" in json.dumps(result)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_and_group_of_release_and_staged_tarball(node):
    src = node.tarball("1.0.0")
    first = node.run("1.0.0", src=src, state="current", owner="65534", group="65534")
    assert first["changed"] is True
    for path in ("releases/1.0.0", "releases/1.0.0/bin/app", "releases/1.0.0/releases/1.0.0/app.rel"):
        st = os.lstat(node.root / path)
        assert (st.st_uid, st.st_gid) == (65534, 65534), path
    assert node.run("1.0.0", src=src, state="current", owner="65534", group="65534")["changed"] is False
    back = node.run("1.0.0", src=src, state="current", owner="0")
    assert back["changed"] is True
    assert os.lstat(node.root / "releases/1.0.0/bin/app").st_uid == 0
    node.run("1.1.0", src=node.tarball("1.1.0"), state="staged", owner="65534", group="65534")
    staged = node.root / "releases/1.0.0/releases/1.1.0/app.tar.gz"
    assert (os.lstat(staged).st_uid, os.lstat(staged.parent).st_uid) == (65534, 65534)


def test_unknown_owner_fails_before_anything(node):
    result = node.run("1.0.0", src=node.tarball("1.0.0"), owner="no-such-user-beamops")
    assert result["failed"] is True and "unknown owner or group" in result["msg"]
    assert node.listing() == []


def test_garbage_file_refused_cleanly(node):
    garbage = node.dist / "garbage.tar.gz"
    garbage.write_bytes(b"not a tarball at all" * 100)
    result = node.run("1.0.0", src=str(garbage))
    assert result["failed"] is True and "not a readable tarball" in result["msg"]
    assert "Traceback" not in json.dumps(result)
    assert not (node.root / "releases/1.0.0").exists()


def test_a_damaged_gzip_is_never_installed(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    src = node.tarball("1.1.0")
    packed = bytearray(open(src, "rb").read())
    packed[-6] ^= 0x01  # one flipped byte in the gzip CRC: every member still reads
    open(src, "wb").write(packed)
    result = node.run("1.1.0", src=src, state="current")
    assert result["failed"] is True and "CRC check failed" in result["msg"]
    assert os.readlink(node.root / "current") == "releases/1.0.0"
    assert not (node.root / "releases/1.1.0").exists()


@pytest.mark.parametrize(
    ("omit", "missing"),
    [
        (("bin/",), "bin/app"),
        (("lib/kernel-",), "lib/kernel-8.5.3/"),
        (("lib/",), "lib/kernel-8.5.3/, lib/app-1.1.0/"),
    ],
)
def test_an_incomplete_release_is_never_installed(node, omit, missing):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    result = node.run("1.1.0", src=node.tarball("1.1.0", omit=omit), state="current")
    assert result["failed"] is True
    assert f"is not a complete release app 1.1.0: it lacks {missing}" in result["msg"]
    assert os.readlink(node.root / "current") == "releases/1.0.0"
    assert not (node.root / "releases/1.1.0").exists()


def test_a_rel_file_that_does_not_parse_is_refused(node):
    result = node.run("1.1.0", src=node.tarball("1.1.0", extra=b"{unclosed"))
    assert result["failed"] is True and "releases/1.1.0/app.rel in" in result["msg"] and ".rel file" in result["msg"]


def concurrent(monkeypatch, action):
    """The next run meets a run that took the root's lock first and does `action` while holding it."""
    real = _release.locked
    pending = [action]

    @contextlib.contextmanager
    def first_another_run(layout, **kw):
        if pending:
            with real(layout):
                pending.pop()()
        with real(layout, **kw):
            yield

    monkeypatch.setattr(_release, "locked", first_another_run)


def test_a_switch_never_points_current_at_a_version_pruned_meanwhile(node, monkeypatch):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        node.run(version, src=node.tarball(version), state="current")
    layout = _release.Layout(str(node.root), "app")
    # Another run prunes 1.0.0 while this one, a switch back to 1.0.0, waits for the lock.
    concurrent(monkeypatch, lambda: _release.remove_version(layout, "1.0.0"))
    result = node.run("1.0.0", state="current")
    assert result["failed"] is True and "version 1.0.0 is not unpacked on the node" in result["msg"]
    assert os.readlink(node.root / "current") == "releases/1.2.0"


def test_concurrent_deploys_keep_every_history_record(node, monkeypatch):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    other = node.tarball("1.2.0")

    def another_deploy():
        layout = _release.Layout(str(node.root), "app")
        history = _release.read_history(layout)
        _release.unpack_atomic(other, layout.release_dir("1.2.0"))
        history["versions"]["1.2.0"] = {"sha256": sha(other), "installed_at": 1.0}
        _release.write_history(layout, history)

    concurrent(monkeypatch, another_deploy)
    node.run("1.1.0", src=node.tarball("1.1.0"))
    assert sorted(node.history()["versions"]) == ["1.0.0", "1.1.0", "1.2.0"]


def test_a_failure_after_the_switch_is_undone_and_reported_unchanged(node, monkeypatch):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    history = node.history()

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_release, "write_history", disk_full)
    result = node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    assert result["failed"] is True and result["changed"] is False
    assert "No space left on device" in result["msg"] and "nothing was changed" in result["msg"]
    assert "undone: unpacked" in result["msg"] and result["not_undone"] == []
    assert os.readlink(node.root / "current") == "releases/1.0.0"
    assert not (node.root / "releases/1.1.0").exists() and node.history() == history
    assert sorted(os.listdir(node.root / "releases")) == ["1.0.0"]


def failing(exc):
    def fail(*_args):
        raise exc

    return fail


def test_a_failed_first_switch_removes_the_link_it_made(node, monkeypatch):
    monkeypatch.setattr(_release, "write_history", failing(OSError(5, "I/O error")))
    result = node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    assert result["failed"] is True and result["changed"] is False
    assert not os.path.lexists(node.root / "current") and not (node.root / "releases/1.0.0").exists()


def test_a_forced_replacement_that_fails_puts_the_old_files_back(node, monkeypatch):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"))
    monkeypatch.setattr(_release, "write_history", failing(OSError(28, "No space")))
    result = node.run("1.1.0", src=node.tarball("1.1.0", extra=b"%% rebuilt\n"), force=True)
    assert result["failed"] is True and result["changed"] is False
    assert b"rebuilt" not in (node.root / "releases/1.1.0/releases/1.1.0/app.rel").read_bytes()
    assert sorted(os.listdir(node.root / "releases")) == ["1.0.0", "1.1.0"]


def test_removals_that_cannot_be_undone_are_reported_as_changed(node, monkeypatch):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        node.run(version, src=node.tarball(version), state="current")
    monkeypatch.setattr(_release, "write_history", failing(OSError(28, "No space")))
    result = node.run("1.2.0", state="current", keep=2)
    assert result["failed"] is True and result["changed"] is True
    assert result["not_undone"] == ["removed 1.0.0 (keep)"] and "changed and not undone" in result["msg"]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_kept_and_staged_tarballs_are_private(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    assert mode(node.root / ".beamops/tarballs") == 0o700
    assert mode(node.root / ".beamops/tarballs/app-1.0.0.tar.gz") == 0o600
    node.run("1.1.0", src=node.tarball("1.1.0"), state="staged")
    assert mode(node.root / "releases/1.0.0/releases/1.1.0/app.tar.gz") == 0o600
    # The release's own modes are kept: its cookie stays readable by its owner only.
    assert mode(node.root / "releases/1.0.0/releases/COOKIE") == 0o400


def test_tarballs_kept_readable_by_an_older_version_are_made_private(node):
    src = node.tarball("1.0.0")
    node.run("1.0.0", src=src, state="current")
    kept = node.root / ".beamops/tarballs/app-1.0.0.tar.gz"
    os.chmod(kept, 0o644)
    os.chmod(kept.parent, 0o755)
    result = node.run("1.0.0", src=src, state="current")
    assert result["changed"] is True and mode(kept) == 0o600 and mode(kept.parent) == 0o700
    assert node.run("1.0.0", src=src, state="current")["changed"] is False


def test_temporaries_of_a_killed_run_are_cleaned_under_the_lock(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    left = [
        node.root / "releases/.beamops-tmp-kill1234",
        node.root / ".beamops/tarballs/.beamops-tmp-ab12cd",
        node.root / ".beamops/.beamops-tmp-history",
    ]
    (left[0] / "lib").mkdir(parents=True)
    (left[0] / "lib/x.beam").write_bytes(b"beam")
    for path in left[1:]:
        path.write_bytes(b"partial")
    os.symlink("releases/1.0.0", node.root / ".beamops-tmp-current-99999")
    (node.root / "releases/.hidden-by-someone").mkdir()
    (node.root / ".beamops-other").write_text("not ours")
    checked = node.run("1.0.0", check=True, state="current")
    assert checked["changed"] is True and len(checked["cleaned"]) == 4 and left[0].exists()
    result = node.run("1.0.0", state="current")
    assert result["changed"] is True and len(result["cleaned"]) == 4
    assert not any(os.path.lexists(p) for p in [*left, node.root / ".beamops-tmp-current-99999"])
    assert (node.root / "releases/.hidden-by-someone").is_dir() and (node.root / ".beamops-other").exists()
    assert (node.root / "releases/1.0.0/bin/app").is_file()
    assert node.run("1.0.0", state="current")["changed"] is False


@pytest.mark.parametrize(
    "content",
    [
        "null",
        "[]",
        '{"format": 1, "versions": null}',
        '{"format": 1, "versions": {"1.0.0": "x"}}',
        '{"format": 1, "events": {}}',
        '{"format": 1, "previous": "../.."}',
        "{not json",
        b"\xff\xfe",
        "directory",
    ],
)
def test_damaged_history_fails_clearly_and_changes_nothing(node, content):
    state = node.root / ".beamops"
    state.mkdir()
    if content == "directory":
        (state / "history.json").mkdir()
    elif isinstance(content, bytes):
        (state / "history.json").write_bytes(content)
    else:
        (state / "history.json").write_text(content)
    result = node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    assert result["failed"] is True and "unreadable deploy state" in result["msg"]
    assert "history.json" in result["msg"] and "move the file aside" in result["msg"]
    assert not (node.root / "releases").exists()


def test_absent_on_a_mistyped_root_creates_nothing(node, tmp_path):
    typo = tmp_path / "opt" / "ap"
    result = node.run("1.0.0", state="absent", root=str(typo))
    assert result["changed"] is False and "nothing to remove" in result["msg"]
    assert not typo.exists()
    result = node.run("1.0.0", state="absent", root=str(tmp_path))  # exists, but holds no releases
    assert result["changed"] is False and not (tmp_path / ".beamops").exists()


def test_owner_gets_the_deploy_state_too(node):
    """Every file a deploy writes under the root belongs to the release's owner, .beamops/ and current included."""
    src = node.tarball("1.0.0")
    node.run("1.0.0", src=src, state="current")  # as root, without owner: the state is root's
    assert os.lstat(node.root / ".beamops" / "history.json").st_uid == 0
    given = node.run("1.0.0", src=src, state="current", owner="65534", group="65534")
    assert given["changed"] is True
    foreign = [
        str(path.relative_to(node.root))
        for path in [node.root / ".beamops", node.root / "current", *node.root.rglob("*")]
        if (os.lstat(path).st_uid, os.lstat(path).st_gid) != (65534, 65534)
    ]
    assert foreign == []
    assert node.run("1.0.0", src=src, state="current", owner="65534", group="65534")["changed"] is False


# --- mixed sequences of cold deploys and hot upgrades (issue 9) -------------------------------------
# Whatever came before, `current` names the version its tree boots, and a cold deploy of a version
# boots it. A hot upgrade is simulated as release_handler and the hot_upgrade module leave the node's
# tree: the new version's releases/<vsn>/ and lib/ inside it, and bin/<name> replaced by the new
# version's script (its REL_VSN), which is what a cold start from that tree boots.


def hot_in_place(tree, version):
    """What a hot upgrade made permanent leaves in the node's tree."""
    (tree / "releases" / version).mkdir(parents=True, exist_ok=True)
    (tree / "releases" / version / "app.rel").write_text(f'{{release,{{"app","{version}"}},{{erts,"13.1.5"}},[]}}.\n')
    (tree / "lib" / f"app-{version}" / "ebin").mkdir(parents=True, exist_ok=True)
    (tree / "bin" / "app").write_text(f'#!/bin/sh\nREL_VSN="{version}"\n')


def boots(node):
    """The version a cold start from current boots, and the version current names."""
    return _release.boot_version(str(node.root / "current"), "app"), os.readlink(node.root / "current")


class Module:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def name_tree(node, version, tree=None):
    """The hot_upgrade module's step after make_permanent, on the tree the node runs from."""
    upgrade = hot_upgrade.HotUpgrade.__new__(hot_upgrade.HotUpgrade)
    upgrade.p = {"root": str(node.root), "name": "app"}
    upgrade.module = Module()
    upgrade.result = {"changed": False}
    upgrade.release = _otp.ReleaseRoot(str(tree or node.root / "current"), "app")
    upgrade.name_tree(version)
    return upgrade


def test_a_hot_upgraded_tree_is_renamed_after_what_it_boots(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    assert boots(node) == ("1.2.0", "releases/1.1.0")  # the lie a hot upgrade left before the fix

    upgrade = name_tree(node, "1.2.0")

    assert upgrade.result["renamed"] == {"from": "1.1.0", "to": "1.2.0"} and upgrade.result["changed"] is True
    assert upgrade.result["current"] == "1.2.0" and not upgrade.module.warnings
    assert boots(node) == ("1.2.0", "releases/1.2.0")
    assert os.readlink(node.root / "releases" / "1.1.0") == "1.2.0"  # the running node's paths still resolve
    assert (node.root / "releases" / "1.1.0" / "lib" / "app-1.2.0").is_dir()
    history = node.history()
    assert history["previous"] == "1.1.0" and "1.1.0" not in history["versions"]
    assert history["versions"]["1.2.0"]["hot_upgraded_from"] == "1.1.0"
    assert history["versions"]["1.2.0"]["sha256"] == _release.sha256_file(node.tarball("1.2.0"))
    assert _release.Layout(str(node.root), "app").installed_versions() == ["1.2.0"]
    assert name_tree(node, "1.2.0").result["changed"] is False  # a re-run finds it named


def test_cold_deploy_back_after_a_hot_upgrade_boots_the_version_asked(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    name_tree(node, "1.2.0")

    back = node.run("1.1.0", src=node.tarball("1.1.0"), state="current")

    assert back["changed"] is True and back["current"] == "1.1.0" and back["previous"] == "1.2.0"
    assert boots(node) == ("1.1.0", "releases/1.1.0")
    assert not os.path.islink(node.root / "releases" / "1.1.0")
    assert not (node.root / "releases" / "1.1.0" / "lib" / "app-1.2.0").exists()
    # Hot to 1.2.0 again from the fresh 1.1.0 tree: the older 1.2.0 tree makes way.
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    again = node.run("1.2.0", state="current")
    assert again["changed"] is True and boots(node) == ("1.2.0", "releases/1.2.0")
    assert (node.root / "releases" / "1.2.0" / "lib" / "app-1.1.0").is_dir()  # the tree the node ran from
    assert not [p for p in os.listdir(node.root / "releases") if p.startswith(".beamops-tmp-")]
    # Rollback (a downgrade through the relup, made permanent): the tree boots 1.1.0 again.
    (node.root / "releases" / "1.2.0" / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.1.0"\n')
    name_tree(node, "1.1.0", tree=node.root / "releases" / "1.2.0")
    assert boots(node) == ("1.1.0", "releases/1.1.0")
    assert os.readlink(node.root / "releases" / "1.2.0") == "1.1.0"
    assert node.run("1.1.0", state="current")["changed"] is False


def test_a_tree_changed_in_place_is_unpacked_again_from_the_kept_tarball(node):
    # A root hot-upgraded before the fix: current names 1.1.0, its tree boots 1.2.0.
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    hot_in_place(node.root / "releases" / "1.0.0", "1.2.0")
    back = node.run("1.0.0", state="current")  # a cold rollback names no src
    assert back["changed"] is True and boots(node) == ("1.0.0", "releases/1.0.0")
    assert not (node.root / "releases" / "1.0.0" / "lib" / "app-1.2.0").exists()
    assert node.run("1.0.0", state="current")["changed"] is False


def test_no_tarball_of_a_tree_changed_in_place_is_a_clear_refusal(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    os.unlink(node.root / ".beamops" / "tarballs" / "app-1.0.0.tar.gz")
    hot_in_place(node.root / "releases" / "1.0.0", "1.2.0")
    before = node.listing()
    result = node.run("1.0.0", state="current")
    assert result["failed"] is True
    assert "does not boot 1.0.0: it boots 1.2.0" in result["msg"] and "set src" in result["msg"]
    assert node.listing() == before


def test_pruning_a_renamed_tree_removes_the_links_to_it(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    name_tree(node, "1.2.0")
    node.run("1.3.0", src=node.tarball("1.3.0"), state="current")
    node.run("1.4.0", src=node.tarball("1.4.0"), state="current", keep=2)
    assert sorted(os.listdir(node.root / "releases")) == ["1.3.0", "1.4.0"]


def test_a_busy_root_fails_within_lock_timeout_s_naming_the_lock_and_its_holder(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    layout = _release.Layout(str(node.root), "app")
    before = node.listing()
    with _release.locked(layout, timeout=1):  # another run holds the root
        started = time.monotonic()
        result = node.run("1.1.0", src=node.tarball("1.1.0"), state="current", lock_timeout_s=1)
        waited = time.monotonic() - started
    assert result["failed"] is True and waited < 2.5
    assert layout.lock in result["msg"] and f"pid {os.getpid()}" in result["msg"]
    assert "lock_timeout_s" in result["msg"] and "nothing was changed" in result["msg"]
    assert node.listing() == before
    assert node.run("1.1.0", src=node.tarball("1.1.0"), state="current", lock_timeout_s=1)["changed"] is True


def test_a_negative_lock_timeout_s_is_refused(node):
    result = node.run("1.0.0", src=node.tarball("1.0.0"), lock_timeout_s=-1)
    assert result["failed"] is True and "invalid lock_timeout_s" in result["msg"]


@pytest.mark.parametrize("where", ["history", "start_erl.data", "lock"])
def test_a_fifo_in_the_root_is_refused_at_once_naming_it(node, where):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    paths = {
        "history": node.root / ".beamops" / "history.json",
        "start_erl.data": node.root / "releases" / "1.0.0" / "releases" / "start_erl.data",
        "lock": node.root / ".beamops" / "lock",
    }
    fifo = paths[where]
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    if where == "start_erl.data":  # read when the start script names no version
        script = node.root / "releases" / "1.0.0" / "bin" / "app"
        script.write_text(script.read_text().replace("REL_VSN=", "NO_VSN="))
    # A module that opened the FIFO would block: opening it from another thread later lets the test end.
    rescue = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_RDWR)))
    rescue.daemon = True
    rescue.start()
    result = node.run("1.0.0", state="current")
    rescue.cancel()
    assert result["failed"] is True
    assert str(fifo) in result["msg"] and "not a regular file (a FIFO)" in result["msg"]


def test_a_releases_dir_that_cannot_be_listed_names_it_and_the_user(node, monkeypatch):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    releases = str(node.root / "releases")
    real = os.listdir

    def listdir(path="."):
        if os.fspath(path) == releases:  # a directory of mode 0311: entered, not listed (tests run as root)
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    result = node.run("1.0.0", state="current")
    assert result["failed"] is True
    assert f"{releases} cannot be listed by user" in result["msg"] and f"(uid {os.geteuid()})" in result["msg"]
    assert "become_user" in result["msg"]


ME = {"controller": "ctl", "controller_id": "ctl/1", "pid": 101, "started": 5.0, "user": "me", "version": "1.0.0"}
OTHER = {"controller": "ctl2", "controller_id": "ctl2/1", "pid": 202, "started": 6.0, "user": "ops", "version": "0.9"}


def test_the_deploy_lock_is_taken_with_the_mark_before_the_release_is_sent(node):
    src = node.tarball("1.0.0")
    lock = node.root / ".beamops" / "deploy.lock"
    mark = {"server": "n1", "at": "now"}
    checked = node.run("1.0.0", check=True, src=src, deploy_lock={"holder": ME, "mark": mark})
    assert checked["changed"] and checked["deploy_lock"]["taken"] and not lock.exists()
    done = node.run("1.0.0", src=src, deploy_lock={"holder": ME, "mark": mark})
    assert not done.get("failed"), done
    assert done["deploy_lock"] == {**done["deploy_lock"], "taken": True, "drained": None, "marked": True}
    assert json.loads((lock / "holder.json").read_text())["pid"] == 101
    assert json.loads((node.root / ".beamops" / "drained.json").read_text()) == {**mark, "by": ME}
    # Held by this run already: not taken again, no interrupted run's mark reported, nothing else to do.
    again = node.run("1.0.0", src=src, deploy_lock={"holder": ME})
    assert not again["deploy_lock"]["taken"] and again["deploy_lock"]["drained"] is None and not again["changed"]


def test_a_deploy_lock_another_run_holds_refuses_before_any_change(node):
    src = node.tarball("1.0.0")
    lock = node.root / ".beamops" / "deploy.lock"
    lock.mkdir(parents=True)
    (lock / "holder.json").write_text(json.dumps({**OTHER, "since": "2026-12-07T01:00:00Z"}))
    refused = node.run("1.0.0", src=src, deploy_lock={"holder": ME})
    assert refused["failed"] and not refused["changed"]
    assert "another deploy holds" in refused["msg"] and "ops@ctl2" in refused["msg"] and "since 2026" in refused["msg"]
    assert not (node.root / "releases" / "1.0.0").exists()
    # Taken over from the holder found before: the interrupted run's mark is reported, the release sent.
    (node.root / ".beamops" / "drained.json").write_text(json.dumps({"server": "n1", "by": OTHER}))
    found = json.loads((lock / "holder.json").read_text())
    over = node.run("1.0.0", src=src, deploy_lock={"holder": ME, "take_over": found})
    assert not over.get("failed"), over
    assert over["deploy_lock"]["taken"] and over["deploy_lock"]["drained"] == {"server": "n1", "by": OTHER}
    assert (node.root / "releases" / "1.0.0").is_dir()


def test_a_failure_after_the_deploy_lock_was_taken_reports_it_and_the_change(node, tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    failed = node.run("1.0.0", src=broken, deploy_lock={"holder": ME})
    assert failed["failed"] and failed["changed"] and failed["deploy_lock"]["taken"]
    assert (node.root / ".beamops" / "deploy.lock" / "holder.json").is_file()
