# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tar safety: hostile archives are refused before anything is written; good ones unpack."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _tar


def build(path, members):
    """members: (name, kind, payload) with kind file|dir|sym|lnk|chr|blk|fifo; payload data or link."""
    with tarfile.open(path, "w:gz") as archive:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            data = None
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "lnk":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            else:
                info.type = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


OK = [("bin/app", "file", "#!/bin/sh\n"), ("lib/a/ebin/a.beam", "file", "beam")]

HOSTILE = {
    "absolute": ([("/etc/evil", "file", "x")], "absolute path"),
    "dotdot": ([("../evil", "file", "x")], "'..' component"),
    "dotdot_inner": ([("lib/../../evil", "file", "x")], "'..' component"),
    "symlink_absolute": ([("bin/sh", "sym", "/bin/sh")], "absolute path"),
    "symlink_out": ([("lib/out", "sym", "../../etc")], "outside the release"),
    "symlink_through_symlink": (
        [("a/l", "sym", ".."), ("m", "sym", "a/l/../x")],
        "outside the release",
    ),
    "below_symlink": ([("lib/d", "sym", "."), ("lib/d/x", "file", "x")], "below the symlink"),
    "hardlink_out": ([("lib/passwd", "lnk", "../etc/passwd")], "'..' component"),
    "hardlink_absolute": ([("lib/passwd", "lnk", "/etc/passwd")], "absolute path"),
    "hardlink_unknown": ([("lib/h", "lnk", "lib/nothing")], "not a regular file met before"),
    "chardev": ([("dev/null", "chr", None)], "device"),
    "blockdev": ([("dev/sda", "blk", None)], "device"),
    "fifo": ([("run/fifo", "fifo", None)], "fifo"),
    "dot_slash_twin": ([("etc/a", "file", "a"), ("./etc/a", "file", "b")], "collides"),
    "double_slash_twin": ([("etc/a", "file", "a"), ("etc//a", "file", "b")], "collides"),
    "below_file": ([("etc/a", "file", "a"), ("etc/a/x", "file", "b")], "below the file"),
    # A member whose path an earlier member made a directory: refused before a byte is written.
    "symlink_after_its_dir": ([("etc/d/x", "file", "a"), ("etc/d", "sym", "x")], "comes after member"),
    "file_after_its_dir": ([("etc/d/x", "file", "a"), ("etc/d", "file", "b")], "comes after member"),
    "hardlink_after_its_dir": ([("etc/d/x", "file", "a"), ("etc/d", "lnk", "etc/d/x")], "comes after member"),
    "symlink_after_a_file_of_its_name": ([("etc/a", "file", "a"), ("etc/a", "sym", "b")], "collides"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_nothing_is_written(tmp_path, case):
    members, reason = HOSTILE[case]
    tarball = build(tmp_path / "evil.tar.gz", OK + members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(_tar.UnsafeArchiveError, match=reason):
        _tar.unpack(tarball, str(dest))
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "evil.tar.gz"]


def test_good_archive_with_internal_links(tmp_path):
    tarball = build(
        tmp_path / "ok.tar.gz",
        [
            *OK,
            ("./lib/a/priv/", "dir", None),
            ("lib/a/ebin/b.beam", "lnk", "lib/a/ebin/a.beam"),
            ("lib/current", "sym", "a"),
            ("lib/a/priv/up", "sym", "../ebin/a.beam"),
        ],
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    assert _tar.unpack(tarball, str(dest)) == 5
    assert (dest / "bin/app").read_text() == "#!/bin/sh\n"
    assert os.readlink(dest / "lib/current") == "a"
    assert (dest / "lib/a/priv/up").read_text() == "beam"
    assert os.stat(dest / "lib/a/ebin/b.beam").st_ino == os.stat(dest / "lib/a/ebin/a.beam").st_ino


def test_modes_lose_setuid_and_group_write(tmp_path):
    path = tmp_path / "m.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, mode in (("bin/run", 0o4777), ("etc/conf", 0o666)):
            info = tarfile.TarInfo(name)
            info.mode, info.size = mode, 1
            archive.addfile(info, io.BytesIO(b"x"))
    dest = tmp_path / "dest"
    dest.mkdir()
    _tar.unpack(str(path), str(dest))
    assert stat.S_IMODE(os.stat(dest / "bin/run").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "etc/conf").st_mode) == 0o644


def test_root_entry_and_dot_prefix_are_normalized():
    members = [tarfile.TarInfo("./"), tarfile.TarInfo("./bin/app")]
    members[0].type = tarfile.DIRTYPE
    assert [pair[0] for pair in _tar.check_members(members)] == ["bin/app"]


def test_data_filter_is_an_extra_guard_when_present(tmp_path, monkeypatch):
    def refuse(member, dest):
        raise tarfile.FilterError(f"refused {member.name}")

    monkeypatch.setattr(tarfile, "data_filter", refuse, raising=False)
    if not hasattr(tarfile, "FilterError"):
        monkeypatch.setattr(tarfile, "FilterError", type("FilterError", (tarfile.TarError,), {}), raising=False)
    tarball = build(tmp_path / "ok.tar.gz", OK)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(_tar.UnsafeArchiveError, match="data filter"):
        _tar.unpack(tarball, str(dest))


def tar_bytes(members):
    """An uncompressed tar of (name, data) regular files, every mtime 0."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


MEMBERS = [("bin/app", b"#!/bin/sh\n"), ("lib/a/ebin/a.beam", b"beam" * 300), ("lib/a/ebin/b.beam", b"b")]


def damaged(kind):
    data = tar_bytes(MEMBERS)
    if kind == "gzip_crc":  # one flipped byte in the CRC trailer: the data decompress fine
        packed = bytearray(gzip.compress(data, mtime=0))
        packed[-6] ^= 0x01
        return bytes(packed), "CRC check failed"
    if kind == "gzip_cut":  # the gzip stream stops before its end
        return gzip.compress(data, mtime=0)[:-20], "ended before|not a readable"
    if kind == "cut_at_block":  # a valid gzip of a tar cut at a block boundary, after the first member
        return gzip.compress(data[: 2 * tarfile.BLOCKSIZE], mtime=0), "cut short"
    if kind == "flipped_header":  # one flipped byte in the second member's header (its checksum fails)
        broken = bytearray(data)
        broken[2 * tarfile.BLOCKSIZE + 10] ^= 0x01
        return gzip.compress(bytes(broken), mtime=0), "header there is damaged"
    return data[: 2 * tarfile.BLOCKSIZE], "cut short"  # the same, uncompressed


@pytest.mark.parametrize("kind", ["gzip_crc", "gzip_cut", "cut_at_block", "flipped_header", "plain_cut"])
def test_damaged_archives_are_refused(tmp_path, kind):
    data, reason = damaged(kind)
    path = tmp_path / "damaged.tar.gz"
    path.write_bytes(data)
    with pytest.raises(_tar.ArchiveError, match=reason):
        _tar.read_members(str(path))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(_tar.ArchiveError, match=reason):
        _tar.unpack(str(path), str(dest))


def test_a_whole_archive_reads_and_unpacks(tmp_path):
    path = tmp_path / "ok.tar.gz"
    path.write_bytes(gzip.compress(tar_bytes(MEMBERS), mtime=0))
    assert [m.name for m in _tar.read_members(str(path))] == [name for name, _data in MEMBERS]
    _members, contents = _tar.read_archive(str(path), {"bin/app"})
    assert contents == {"bin/app": b"#!/bin/sh\n"}
    dest = tmp_path / "dest"
    dest.mkdir()
    assert _tar.unpack(str(path), str(dest)) == 3


@pytest.mark.parametrize(
    ("members", "words"),
    [
        (
            [("lib/x/ebin/x.beam", "file", "b"), ("lib/x", "sym", "y")],
            ["symlink 'lib/x' comes after member 'lib/x/ebin/x.beam', which lies below it"],
        ),
        (
            [("bin/app", "file", "a"), ("bin/app", "sym", "other")],
            ["symlink 'bin/app' collides with the file 'bin/app' before it (the same name)"],
        ),
        (
            [("bin/app", "file", "a"), ("./bin/app", "sym", "other")],
            ["symlink './bin/app' collides with the file 'bin/app'", "once './' is dropped"],
        ),
    ],
)
def test_a_member_that_cannot_follow_an_earlier_one_is_refused_by_the_check_naming_both(members, words):
    infos = []
    for name, kind, payload in members:
        info = tarfile.TarInfo(name)
        if kind == "sym":
            info.type, info.linkname = tarfile.SYMTYPE, payload
        infos.append(info)
    with pytest.raises(_tar.UnsafeArchiveError) as caught:
        _tar.check_members(infos)
    for word in words:
        assert word in str(caught.value)
