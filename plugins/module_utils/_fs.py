# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded reads of the small files a release root holds (target side, standard library only).

A deploy tool reads files that other people's tools, or an attacker with write access to the
root, may have replaced: a FIFO at ``releases/start_erl.data`` blocks ``open()`` forever, a
character device such as ``/dev/zero`` never ends, a multi-gigabyte file fills the memory. Every
read of such a file goes through :func:`read_bytes`/:func:`read_text`: the file is opened without
blocking, refused unless it is a regular file, and refused when it is larger than its cap.

This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import os
import stat

# A cap that no start_erl.data, COOKIE, vm.args, RELEASES file or deploy history comes near.
DEFAULT_LIMIT = 4 * 1024 * 1024


class UnsafeFile(OSError):
    """A file that is not a regular file, or larger than its cap: never read."""


def read_bytes(path: str, limit: int = DEFAULT_LIMIT) -> bytes:
    """The content of the regular file PATH, at most LIMIT bytes.

    Raises FileNotFoundError (and the other OSErrors of open) as open() does, and UnsafeFile for a
    FIFO, socket, device or directory, or a file over LIMIT bytes. A symlink is followed (``current``
    and a release's own links are symlinks); what it points to must be a regular file.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFile(f"{path} is not a regular file ({_kind(mode)}): it is not read; remove or replace it")
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UnsafeFile(f"{path} is larger than {limit} bytes: it is not read; remove or replace it")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str, limit: int = DEFAULT_LIMIT, encoding: str = "utf-8", errors: str = "strict") -> str:
    """read_bytes, decoded."""
    return read_bytes(path, limit).decode(encoding, errors)


def read_small(
    path: str, limit: int = DEFAULT_LIMIT, errors: str = "strict", unsafe: type[Exception] = ValueError
) -> str | None:
    """The text of a small file of a release tree; None when it is missing or cannot be read or decoded.

    A FIFO, device or directory in its place, or a file over LIMIT, is never read (the read would block,
    or never end): the caller's UNSAFE exception, naming the file and what to do."""
    try:
        return read_text(path, limit, errors=errors)
    except UnsafeFile as exc:
        raise unsafe(str(exc)) from None
    except (OSError, UnicodeDecodeError):
        return None


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"
