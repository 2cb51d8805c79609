# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release layout: version validation, atomic unpack and switch, history, pruning rules."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _release, _tar


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0-rc.1", "1.0+build.7", "20260101_1", "v3"])
def test_good_versions(version):
    assert _release.validate_version(version) is None


@pytest.mark.parametrize(
    ("version", "why"),
    [
        ("", "empty"),
        ("../1.0.0", "separator"),
        ("1.0/2", "separator"),
        ("1..0", "'..'"),
        ("..", "'..'"),
        (".hidden", "letters"),
        ("1.0 0", "letters"),
        ("1.0;rm", "letters"),
        ("x" * 129, "at most 128"),
    ],
)
def test_bad_versions(version, why):
    assert why in _release.validate_version(version)


def test_bad_names():
    assert _release.validate_name("my_app") is None
    assert _release.validate_name("a/b")
    assert _release.validate_name("..")


def test_unpack_atomic_places_the_release(tmp_path, release_tarball):
    tarball = release_tarball(tmp_path / "r.tar.gz", files=50)
    (tmp_path / "releases").mkdir()
    dest = tmp_path / "releases" / "1.0.0"
    assert _release.unpack_atomic(tarball, str(dest)) == 55
    assert (dest / "bin/app").is_file()
    assert os.listdir(tmp_path / "releases") == ["1.0.0"]


def test_failure_mid_unpack_leaves_nothing(tmp_path, monkeypatch, release_tarball):
    tarball = release_tarball(tmp_path / "r.tar.gz", files=50)
    (tmp_path / "releases").mkdir()
    real_copy = _tar.shutil.copyfileobj
    calls = []

    def flaky(src, dst, length=0):
        calls.append(1)
        if len(calls) == 20:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, length)

    monkeypatch.setattr(_tar.shutil, "copyfileobj", flaky)
    with pytest.raises(OSError, match="No space"):
        _release.unpack_atomic(tarball, str(tmp_path / "releases" / "1.0.0"))
    assert os.listdir(tmp_path / "releases") == []


def test_truncated_tarball_leaves_nothing(tmp_path, release_tarball):
    data = open(release_tarball(tmp_path / "r.tar.gz", files=50), "rb").read()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    (tmp_path / "releases").mkdir()
    with pytest.raises(_tar.ArchiveError, match="not a readable tarball"):
        _release.unpack_atomic(str(cut), str(tmp_path / "releases" / "1.0.0"))
    assert os.listdir(tmp_path / "releases") == []


def test_unpack_atomic_never_merges_into_an_existing_release(tmp_path, release_tarball):
    tarball = release_tarball(tmp_path / "r.tar.gz")
    dest = tmp_path / "releases" / "1.0.0"
    dest.mkdir(parents=True)
    (dest / "keep").write_text("old")
    with pytest.raises(OSError):
        _release.unpack_atomic(tarball, str(dest))
    assert os.listdir(dest) == ["keep"]
    assert os.listdir(tmp_path / "releases") == ["1.0.0"]
    _release.unpack_atomic(tarball, str(dest), replace=True)
    assert not (dest / "keep").exists()
    assert os.listdir(tmp_path / "releases") == ["1.0.0"]


def test_switch_current_is_relative_and_replaces(tmp_path):
    layout = _release.Layout(str(tmp_path), "app")
    for version in ("1.0.0", "1.1.0"):
        os.makedirs(layout.release_dir(version))
    assert layout.current_version() is None
    _release.switch_current(layout, "1.0.0")
    _release.switch_current(layout, "1.1.0")
    assert os.readlink(layout.current) == "releases/1.1.0"
    assert layout.current_version() == "1.1.0"
    assert sorted(os.listdir(tmp_path)) == ["current", "releases"]


def test_current_outside_releases_is_not_a_version(tmp_path):
    layout = _release.Layout(str(tmp_path), "app")
    os.symlink("/usr", layout.current)
    assert layout.current_version() is None


def test_history_round_trip_and_event_cap(tmp_path):
    layout = _release.Layout(str(tmp_path), "app")
    os.makedirs(layout.state)
    history = _release.read_history(layout)
    assert history["previous"] is None and history["versions"] == {}
    history["previous"] = "1.0.0"
    for i in range(_release.MAX_EVENTS + 5):
        _release.record_event(history, "current", to=str(i))
    _release.write_history(layout, history)
    again = _release.read_history(layout)
    assert again["previous"] == "1.0.0"
    assert len(again["events"]) == _release.MAX_EVENTS
    assert again["events"][-1]["to"] == str(_release.MAX_EVENTS + 4)
    assert os.listdir(layout.state) == ["history.json"]


def test_history_of_unknown_format_is_refused(tmp_path):
    layout = _release.Layout(str(tmp_path), "app")
    os.makedirs(layout.state)
    (tmp_path / ".beamops" / "history.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format 1"):
        _release.read_history(layout)


AGES = {"0.9.0": 1.0, "1.0.0": 2.0, "1.1.0": 3.0, "1.2.0": 4.0, "1.3.0": 5.0}


@pytest.mark.parametrize(
    ("keep", "protected", "pruned"),
    [
        (5, {"1.3.0"}, []),
        (3, {"1.3.0", "1.2.0"}, ["0.9.0", "1.0.0"]),
        (1, {"1.3.0", "1.2.0"}, ["0.9.0", "1.0.0", "1.1.0"]),
        (2, {"0.9.0", "1.0.0"}, ["1.1.0", "1.2.0", "1.3.0"]),
        (3, {"0.9.0", "1.3.0"}, ["1.0.0", "1.1.0"]),
    ],
)
def test_prune_plan_oldest_first_never_protected(keep, protected, pruned):
    assert _release.prune_plan(sorted(AGES), AGES, keep, protected) == pruned


def test_version_age_prefers_history_over_mtime(tmp_path):
    layout = _release.Layout(str(tmp_path), "app")
    os.makedirs(layout.release_dir("1.0.0"))
    os.makedirs(layout.release_dir("1.1.0"))
    os.utime(layout.release_dir("1.0.0"), (100, 100))
    history = {"versions": {"1.1.0": {"installed_at": 50.0}}}
    assert _release.version_age(layout, history, "1.1.0") == 50.0
    assert _release.version_age(layout, history, "1.0.0") == 100.0


def test_inspect_tarball(tmp_path, release_tarball):
    tarball = release_tarball(tmp_path / "r.tar.gz", name="app", version="1.1.0")
    assert _release.inspect_tarball(tarball, "app", "1.1.0") is False
    with pytest.raises(ValueError, match=r"no releases/1\.2\.0/app\.rel"):
        _release.inspect_tarball(tarball, "app", "1.2.0")
