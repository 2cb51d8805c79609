# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release module on a temporary root: states, idempotence, check mode, refusals, pruning."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.beamops.deploy.plugins.modules import release


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
    assert result["path"].endswith("releases/1.1.0")
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
