# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe reading and unpacking of release tarballs (target side, standard library only).

Every member is checked before a single byte is written: no absolute names, no ``..``
component, no name that collides with another once ``./`` prefixes and repeated slashes are
dropped, no member below a symlink of the archive, symlinks and hard links only to places inside
the archive, and only regular files, directories, symlinks and hard links (no devices, fifos or
exotic types). The checks are our own: tarfile's ``data_filter`` (Python 3.12, and some 3.11
builds) is applied as an extra guard when present, never relied on.

Every read goes to the end of the archive: tarfile stops without a word at the first header it
cannot read (a flipped byte, a tar cut at a block boundary) and never reaches the gzip trailer, so
here the end-of-archive marker is required and the compressed stream is read to its end (its CRC
and length checked).

This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import zlib

# A name component a release never needs and a hostile archive likes.
_FORBIDDEN_COMPONENTS = frozenset(("..",))


class ArchiveError(Exception):
    """The archive cannot be read (not a tarball, truncated, corrupt)."""


class UnsafeArchiveError(ArchiveError):
    """The archive holds a member that must not be unpacked; the message names it and says why."""


_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
_MAX_WANTED = 4 * 1024 * 1024  # bytes read into memory from one wanted member


def normalize_name(raw: str) -> str:
    """The member name as it lands on disk: no ``./`` prefixes, no empty or ``.`` components."""
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _check_name(raw: str) -> str:
    if raw.startswith("/"):
        raise UnsafeArchiveError(f"member {raw!r} has an absolute path")
    if "\x00" in raw:
        raise UnsafeArchiveError(f"member {raw!r} contains a NUL byte")
    if any(part in _FORBIDDEN_COMPONENTS for part in raw.split("/")):
        raise UnsafeArchiveError(f"member {raw!r} has a '..' component")
    name = normalize_name(raw)
    return name


def _link_stays_inside(name: str, target: str, symlinks: set[str]) -> bool:
    """True when the symlink ``name`` -> ``target`` resolves inside the archive root.

    Resolved component by component: a ``..`` above the root, or any ``..`` once the path went
    through a component that is itself a symlink of the archive (its real parent may be
    elsewhere), counts as outside.
    """
    stack = name.split("/")[:-1]
    through_link = False
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack or through_link:
                return False
            stack.pop()
        else:
            stack.append(part)
            through_link = through_link or "/".join(stack) in symlinks
    return True


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hard link"
    return "directory" if member.isdir() else "file" if member.isreg() else "member"


def check_members(members: list[tarfile.TarInfo]) -> list[tuple[str, tarfile.TarInfo]]:
    """Check every member; return (normalized name, member) pairs, in archive order.

    Raises UnsafeArchiveError on the first member that is not safe, or that could not be unpacked in
    archive order (a symlink or file whose path an earlier member already made a directory).
    """
    checked: list[tuple[str, tarfile.TarInfo]] = []
    all_symlinks = {normalize_name(m.name) for m in members if m.issym()}
    seen: dict[str, tarfile.TarInfo] = {}
    symlinks: set[str] = set()
    files: set[str] = set()
    below: dict[str, str] = {}  # a directory an earlier member lies in -> the first such member
    for member in members:
        name = _check_name(member.name)
        if not name:
            if member.isdir():
                continue  # the archive root itself ("./")
            raise UnsafeArchiveError(f"member {member.name!r} has an empty name")
        if name in seen:
            first = seen[name]
            how = "the same name" if first.name == member.name else "the same path once './' is dropped"
            raise UnsafeArchiveError(
                f"{_kind(member)} {member.name!r} collides with the {_kind(first)} {first.name!r} before it "
                f"({how}); an archive holds each path once"
            )
        seen[name] = member
        if name in below and not member.isdir():
            raise UnsafeArchiveError(
                f"{_kind(member)} {member.name!r} comes after member {below[name]!r}, which lies below it: "
                f"{name!r} is a directory by then and cannot become a {_kind(member)}"
            )
        parents = name.split("/")[:-1]
        for i in range(1, len(parents) + 1):
            prefix = "/".join(parents[:i])
            below.setdefault(prefix, member.name)
            if prefix in symlinks:
                raise UnsafeArchiveError(f"member {member.name!r} lies below the symlink {prefix!r}")
            if prefix in files:
                raise UnsafeArchiveError(f"member {member.name!r} lies below the file {prefix!r}")
        if member.issym():
            target = member.linkname
            if not target or target.startswith("/"):
                raise UnsafeArchiveError(f"symlink {member.name!r} points to the absolute path {target!r}")
            if not _link_stays_inside(name, target, all_symlinks):
                raise UnsafeArchiveError(f"symlink {member.name!r} points outside the release ({target!r})")
            symlinks.add(name)
        elif member.islnk():
            target = _check_name(member.linkname)
            if target not in files:
                raise UnsafeArchiveError(
                    f"hard link {member.name!r} points to {member.linkname!r}, not a regular file met before it"
                )
            files.add(name)
        elif member.isreg():
            files.add(name)
        elif not member.isdir():
            kind = "device" if member.ischr() or member.isblk() else "fifo" if member.isfifo() else "special file"
            raise UnsafeArchiveError(f"member {member.name!r} is a {kind} (type {member.type!r})")
        checked.append((name, member))
    return checked


def _safe_mode(member: tarfile.TarInfo) -> int:
    # No setuid/setgid/sticky bits, nothing writable by group or others.
    return member.mode & 0o755 if member.isdir() or member.mode & 0o100 else member.mode & 0o644


def _data_filter_check(member: tarfile.TarInfo, dest: str) -> None:
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(member, dest)
    except tarfile.TarError as exc:  # FilterError and its subclasses
        raise UnsafeArchiveError(f"member {member.name!r} refused by tarfile's data filter: {exc}") from exc


def extract_all(archive: tarfile.TarFile, dest: str, checked: list[tuple[str, tarfile.TarInfo]]) -> int:
    """Write the checked members below the empty directory ``dest``; return the file count.

    Files are created with O_EXCL|O_NOFOLLOW and parent directories are made here, never taken
    from the archive's links, so nothing can be written outside ``dest``.
    """
    count = 0
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    for name, member in checked:
        _data_filter_check(member, dest)
        path = os.path.join(dest, *name.split("/"))
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if member.isdir():
            os.makedirs(path, mode=0o755, exist_ok=True)
            dirs.append((path, member))
            continue
        if member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            os.link(os.path.join(dest, *normalize_name(member.linkname).split("/")), path)
        else:
            source = archive.extractfile(member)
            if source is None:
                raise UnsafeArchiveError(f"member {member.name!r} has no readable data")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600)
            with source, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            os.chmod(path, _safe_mode(member))
            os.utime(path, (member.mtime, member.mtime))
        count += 1
    for path, member in reversed(dirs):
        os.chmod(path, _safe_mode(member))
    return count


def _check_complete(archive: tarfile.TarFile, path: str) -> None:
    """The tar stream ends with its end-of-archive marker, and the file reads to its end.

    Reading to the end is what makes gzip (bz2, xz) check the CRC and length of the whole stream.
    Call once every member was read (getmembers), so that archive.offset is where tarfile stopped.
    """
    fileobj = archive.fileobj
    fileobj.seek(archive.offset)
    block = fileobj.read(tarfile.BLOCKSIZE)
    if block != tarfile.NUL * tarfile.BLOCKSIZE:
        last = archive.members[-1].name if archive.members else None
        why = (
            "the archive ends there without its end-of-archive marker (it was cut short)"
            if len(block) < tarfile.BLOCKSIZE
            else "the member header there is damaged (tarfile would silently stop reading at it)"
        )
        raise ArchiveError(
            f"{path} is damaged at byte {archive.offset} of the tar stream, after member {last!r}: {why}"
        )
    try:
        while fileobj.read(1024 * 1024):
            pass
    except OSError as exc:  # gzip: CRC or length mismatch, trailing garbage; bz2/xz: invalid data
        raise ArchiveError(f"{path} is damaged: {exc}") from exc


def read_archive(path: str, wanted=frozenset()) -> tuple[list[tarfile.TarInfo], dict]:
    """The members of a (compressed) tarball and the bytes of the ``wanted`` regular files (by
    normalized name: a set of names, or a function of the name), without extracting anything; the
    whole file is read once and checked."""
    wants = wanted if callable(wanted) else wanted.__contains__
    try:
        with tarfile.open(path, "r:*") as archive:
            members = archive.getmembers()
            contents = {}
            for member in members:
                name = normalize_name(member.name)
                if member.isreg() and member.size <= _MAX_WANTED and wants(name):
                    source = archive.extractfile(member)
                    contents[name] = source.read() if source is not None else b""
            _check_complete(archive, path)
            return members, contents
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{path} is not a readable tarball: {exc}") from exc


def read_members(path: str) -> list[tarfile.TarInfo]:
    """The members of a (compressed) tarball, without extracting anything; the whole file is checked."""
    return read_archive(path)[0]


def unpack(path: str, dest: str) -> int:
    """Check and unpack the tarball ``path`` into the existing empty directory ``dest``.

    A damaged archive raises ArchiveError, possibly after some files were written: unpack into a
    directory that is removed on failure (``_release.unpack_atomic`` does).
    """
    try:
        with tarfile.open(path, "r:*") as archive:
            checked = check_members(archive.getmembers())
            count = extract_all(archive, dest, checked)
            _check_complete(archive, path)
            return count
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{path} is not a readable tarball: {exc}") from exc
