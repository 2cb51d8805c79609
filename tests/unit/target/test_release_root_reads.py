# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What _release and _otp read from a release root: a FIFO or device in place of a small file is refused
at once (never a read that blocks), a releases/ that cannot be listed is named with the user, the deploy
lock is waited for within a bound and names its holder, and a history record that is not a map is
refused."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _fs, _otp, _release


def bounded(func, *args, fifo=None, timeout=5.0, **kwargs):
    """func(*args, **kwargs) in a thread: its result, or the exception it raised. A call still running
    after ``timeout`` (blocked on a FIFO) fails the test, and the FIFO is opened for writing so that the
    blocked reader gets its end and the thread ends."""
    box = {}

    def run():
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which raises it again
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if fifo:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            thread.join(timeout)
        pytest.fail(f"{func.__name__} was still blocked after {timeout}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def layout(tmp_path):
    root = tmp_path / "app"
    (root / "releases").mkdir(parents=True)
    (root / ".beamops").mkdir()
    return _release.Layout(str(root), "app")


def test_release_a_fifo_as_history_is_refused_at_once_naming_the_file(tmp_path):
    lay = layout(tmp_path)
    os.mkfifo(lay.history)
    with pytest.raises(ValueError) as caught:
        bounded(_release.read_history, lay, fifo=lay.history)
    assert lay.history in str(caught.value) and "a FIFO" in str(caught.value)


def test_release_a_fifo_as_start_erl_data_is_refused_at_once(tmp_path):
    tree = tmp_path / "app" / "releases" / "1.0.0"
    (tree / "releases").mkdir(parents=True)
    fifo = str(tree / "releases" / "start_erl.data")
    os.mkfifo(fifo)
    with pytest.raises(ValueError) as caught:
        bounded(_release.boot_version, str(tree), "app", fifo=fifo)
    assert fifo in str(caught.value) and "remove or replace it" in str(caught.value)


def test_release_a_fifo_as_start_script_is_refused_at_once(tmp_path):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    fifo = str(tree / "bin" / "app")
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="a FIFO"):
        bounded(_release.boot_version, str(tree), "app", fifo=fifo)


def test_release_a_device_as_start_erl_data_is_refused(tmp_path):
    tree = tmp_path / "tree"
    (tree / "releases").mkdir(parents=True)
    os.symlink("/dev/zero", tree / "releases" / "start_erl.data")
    with pytest.raises(ValueError, match="a character device"):
        bounded(_release.boot_version, str(tree), "app")


def test_release_start_erl_data_still_gives_the_version(tmp_path):
    tree = tmp_path / "tree"
    (tree / "releases").mkdir(parents=True)
    (tree / "releases" / "start_erl.data").write_text("13.1.5 1.2.0\n")
    assert _release.boot_version(str(tree), "app") == "1.2.0"
    (tree / "bin").mkdir()
    (tree / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.3.0"\n')
    assert _release.boot_version(str(tree), "app") == "1.3.0"


def test_release_a_fifo_as_tarball_is_refused_by_the_checksum(tmp_path):
    fifo = str(tmp_path / "app-1.0.0.tar.gz")
    os.mkfifo(fifo)
    with pytest.raises(_fs.UnsafeFile, match="a FIFO"):
        bounded(_release.sha256_file, fifo, fifo=fifo)


def test_release_a_fifo_as_lock_is_refused_at_once(tmp_path):
    lay = layout(tmp_path)
    os.mkfifo(lay.lock)

    def take():
        with _release.locked(lay, timeout=1):
            return True

    with pytest.raises(OSError) as caught:
        bounded(take, fifo=lay.lock)
    assert lay.lock in str(caught.value)


def test_release_an_unlistable_releases_dir_names_the_path_and_the_user(tmp_path, monkeypatch):
    lay = layout(tmp_path)
    real = os.listdir

    def listdir(path="."):
        if os.fspath(path) == lay.releases:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(ValueError) as caught:
        lay.installed_versions()
    text = str(caught.value)
    assert lay.releases in text and "Permission denied" in text
    assert f"uid {os.geteuid()}" in text and "as the release's owner" in text


def test_release_a_missing_releases_dir_is_no_version(tmp_path):
    assert _release.Layout(str(tmp_path / "none"), "app").installed_versions() == []


@pytest.mark.parametrize("record", ["1.0.0", ["a"], 3, None])
def test_release_a_history_record_that_is_not_a_map_is_refused(tmp_path, record):
    lay = layout(tmp_path)
    data = {"format": 1, "name": "app", "previous": None, "versions": {"1.0.0": record}, "events": []}
    with open(lay.history, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    with pytest.raises(ValueError, match="is damaged: versions is not a map of version records"):
        _release.read_history(lay)


def test_release_the_lock_wait_is_bounded_and_names_the_root_and_its_holder(tmp_path):
    lay = layout(tmp_path)
    with _release.locked(lay, timeout=1):
        # Another open file description of the same file: flock makes it wait as another process would.
        started = time.monotonic()
        with pytest.raises(_release.LockBusy) as caught:
            bounded(lambda: _release.locked(lay, timeout=0.5).__enter__())
        waited = time.monotonic() - started
    assert 0.4 <= waited < 4
    text = str(caught.value)
    assert lay.root in text and "0.5" in text
    assert f"pid {os.getpid()}" in text  # the holder wrote who it is into the lock file
    with _release.locked(lay, timeout=0.5):  # released: taken at once
        pass


def test_release_a_lock_held_by_another_tool_says_its_holder_is_unknown(tmp_path):
    lay = layout(tmp_path)
    with open(lay.lock, "a", encoding="utf-8") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(_release.LockBusy, match="holder unknown"):
            bounded(lambda: _release.locked(lay, timeout=0.2).__enter__())


def test_release_an_unlistable_releases_dir_for_real(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root lists a directory of mode 0311 all the same")
    lay = layout(tmp_path)
    os.chmod(lay.releases, 0o311)
    try:
        with pytest.raises(ValueError, match="cannot be listed by user"):
            lay.installed_versions()
    finally:
        os.chmod(lay.releases, 0o755)


def test_release_a_lock_that_is_a_symlink_is_refused_and_nothing_is_written_through_it(tmp_path):
    lay = layout(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    os.symlink(victim, lay.lock)
    with pytest.raises(OSError, match="is a symlink"), _release.locked(lay, timeout=0.2):
        pass
    assert victim.read_text() == "keep me\n"


def test_release_the_lock_file_is_emptied_when_it_is_let_go(tmp_path):
    lay = layout(tmp_path)
    with _release.locked(lay, timeout=1):
        assert _release.lock_holder(lay.lock).startswith(f"held by pid {os.getpid()} on ")
    assert _release.lock_holder(lay.lock) == "holder unknown"


# The running release's tree, as _otp reads it (hot_upgrade, release_info, health_probe).


def otp_tree(tmp_path):
    tree = tmp_path / "rel"
    (tree / "bin").mkdir(parents=True)
    (tree / "releases" / "1.1.0").mkdir(parents=True)
    return tree


@pytest.mark.parametrize(
    ("where", "call"),
    [
        ("bin/app", lambda rel: rel.script_version()),
        ("releases/start_erl.data", lambda rel: rel.start_erl_data()),
        ("releases/start_erl.data", lambda rel: rel.versions()),
        ("releases/1.1.0/relup", lambda rel: rel.relup_text("1.1.0", None)),
        ("releases/.beamops-hot-upgrade.json", lambda rel: rel.read_record()),
    ],
)
def test_otp_a_fifo_in_the_release_tree_is_refused_at_once(tmp_path, where, call):
    tree = otp_tree(tmp_path)
    (tree / "bin" / "app").write_text("#!/bin/sh\n")  # no REL_VSN: start_erl.data is read next
    fifo = str(tree / where)
    with contextlib.suppress(FileNotFoundError):
        os.remove(fifo)
    os.mkfifo(fifo)
    rel = _otp.ReleaseRoot(str(tree), "app")
    with pytest.raises(_otp.OtpError) as caught:
        bounded(call, rel, fifo=fifo)
    assert os.path.realpath(fifo) in str(caught.value) and "not a regular file (a FIFO)" in str(caught.value)


def test_otp_a_start_script_that_is_a_fifo_is_named_as_such(tmp_path):
    tree = otp_tree(tmp_path)
    os.mkfifo(tree / "bin" / "app")
    rel = _otp.ReleaseRoot(str(tree), "app")
    assert not rel.exists()
    assert "is not a regular file (a FIFO)" in rel.missing() and "remove or replace it" in rel.missing()
    os.remove(tree / "bin" / "app")
    assert rel.missing() == f"no start script {rel.script}"


def test_otp_the_release_tree_still_reads(tmp_path):
    tree = otp_tree(tmp_path)
    (tree / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.1.0"\n')
    (tree / "releases" / "start_erl.data").write_text("14.2 1.0.0\n")
    (tree / "releases" / "1.1.0" / "relup").write_text('{"1.1.0", [{"1.0.0", [], []}], []}.\n')
    (tree / "releases" / ".beamops-hot-upgrade.json").write_text('["not", "a", "map"]')
    rel = _otp.ReleaseRoot(str(tree), "app")
    assert rel.script_version() == "1.1.0" and rel.start_erl_data() == ("14.2", "1.0.0")
    assert rel.versions() == ["1.0.0", "1.1.0"]
    assert _otp.relup_sources(rel.relup_text("1.1.0", None))[1] == ["1.0.0"]
    assert rel.read_record() == {}


def test_otp_a_large_relup_is_read_a_runaway_one_refused(tmp_path):
    """A relup of a large system (thousands of changed modules, instructions both ways) runs to
    megabytes: it is read whole; only one past the relup cap is refused, naming the file."""
    tree = otp_tree(tmp_path)
    relup = tree / "releases" / "1.1.0" / "relup"
    steps = ",".join(f'{{load_object_code,{{app,"1.1.0",[mod_{i}]}}}}' for i in range(60000))
    relup.write_text(f'{{"1.1.0", [{{"1.0.0", [], [{steps}]}}], []}}.\n')
    assert relup.stat().st_size > 2 * 1024 * 1024
    rel = _otp.ReleaseRoot(str(tree), "app")
    assert _otp.relup_sources(rel.relup_text("1.1.0", None))[1] == ["1.0.0"]
    with open(relup, "ab") as handle:
        handle.truncate(_otp._RELUP_LIMIT + 1)
    with pytest.raises(_otp.OtpError, match="is larger than"):
        rel.relup_text("1.1.0", None)
