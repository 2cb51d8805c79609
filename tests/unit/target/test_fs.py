# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded reads: FIFOs, devices and directories are refused at once, large files by their cap."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _fs


def test_regular_file_is_read(tmp_path):
    path = tmp_path / "start_erl.data"
    path.write_text("13.1.5 1.0.0\n")
    assert _fs.read_text(str(path)) == "13.1.5 1.0.0\n"


def test_symlink_to_a_regular_file_is_followed(tmp_path):
    (tmp_path / "real").write_text("x")
    os.symlink("real", tmp_path / "link")
    assert _fs.read_bytes(str(tmp_path / "link")) == b"x"


def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "COOKIE"
    os.mkfifo(path)
    with pytest.raises(_fs.UnsafeFile, match="is not a regular file \\(a FIFO\\)"):
        _fs.read_text(str(path))


def test_device_is_refused(tmp_path):
    with pytest.raises(_fs.UnsafeFile, match="a character device"):
        _fs.read_bytes("/dev/zero")


def test_directory_is_refused(tmp_path):
    with pytest.raises(_fs.UnsafeFile, match="a directory"):
        _fs.read_bytes(str(tmp_path))


def test_socket_is_refused(tmp_path):
    path = str(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(path)
        with pytest.raises(OSError):
            _fs.read_bytes(path)  # open() of a socket fails (ENXIO): refused either way
    finally:
        server.close()


def test_cap_is_enforced_exactly(tmp_path):
    path = tmp_path / "history.json"
    path.write_bytes(b"a" * 100)
    assert len(_fs.read_bytes(str(path), limit=100)) == 100
    with pytest.raises(_fs.UnsafeFile, match="larger than 99 bytes"):
        _fs.read_bytes(str(path), limit=99)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        _fs.read_bytes(str(tmp_path / "nope"))
