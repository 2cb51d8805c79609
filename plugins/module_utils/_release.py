# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release layout of a node and its deploy state (target side, standard library only).

Layout under a release root ``<root>``::

    releases/<vsn>/                  one unpacked release per version; a cold start from it boots <vsn>
    releases/<old> -> <vsn>          a tree hot-upgraded in place to <vsn> is renamed after what it
                                     boots; its old name is left as a link, which the running node's
                                     paths still name (never counted as an installed version)
    current -> releases/<vsn>        relative symlink, switched atomically
    .beamops/history.json            deploy state, see below
    .beamops/node.json               who runs the release and how (the node role's record, _node_state)
    .beamops/tarballs/<name>-<vsn>.tar.gz   the tarballs as received (skip re-transfers), 0600 in 0700
    .beamops/lock                    flock held while the root is read, planned and changed
    .beamops/patches/<name>-<vsn>.tar.gz    a rebuild of an installed version, sent for a hot patch (0600)
    .beamops/patches/<id>/           a hot patch: what it loaded and what it replaced (see _patch)
    .beamops-tmp-*                   temporaries (in <root>, releases/, .beamops/, .beamops/tarballs/);
                                     any found with the lock held were left by a killed run

history.json (``format`` 1)::

    {"format": 1, "name": "app", "previous": "1.0.0",
     "versions": {"1.1.0": {"sha256": "<hex>", "installed_at": <epoch s>}},
     "events": [{"at": <epoch s>, "action": "current", "from": "1.0.0", "to": "1.1.0"}, ...]}

The ``current`` version is always read from the symlink, never from the history.
This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable

from ansible_collections.beamops.deploy.plugins.module_utils import _erlterm, _fs, _tar

HISTORY_FORMAT = 1
MAX_EVENTS = 50
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_TMP_PREFIX = ".beamops-tmp-"
_SCRIPT_LIMIT = 1024 * 1024  # a relx start script is some tens of kilobytes
_HOLDER_LIMIT = 4096


class LockBusy(OSError):
    """The root's lock was not free within the time allowed; the message names the lock and its holder."""


def validate_version(version: str) -> str | None:
    """None when ``version`` is usable as a directory name, else why not."""
    if not version:
        return "it is empty"
    if "/" in version or "\\" in version:
        return "it contains a path separator"
    if ".." in version:
        return "it contains '..'"
    if not _VERSION_RE.match(version):
        return "use letters, digits and . _ + ~ - only, starting with a letter or digit, at most 128"
    return None


def validate_name(name: str) -> str | None:
    """None when ``name`` is usable as a release name in file names, else why not."""
    if not name or ".." in name or not _NAME_RE.match(name):
        return "use letters, digits and . _ - only, starting with a letter or digit, no '..'"
    return None


def check_inputs(name: str, version: str, checksum: str | None, keep: int | None, root: str):
    """None when the module's inputs are usable, else (what failed, why, what to do)."""
    why = validate_version(version)
    if why:
        return "invalid version", f"{version!r}: {why}", "use a plain release version"
    why = validate_name(name)
    if why:
        return "invalid name", f"{name!r}: {why}", "use the release name of the tarball"
    if checksum and not _SHA256_RE.match(checksum):
        return "invalid checksum", "it is not 64 hexadecimal digits", "give the SHA-256 of the tarball"
    if keep is not None and keep < 1:
        return "invalid keep", f"{keep} is below 1", "keep at least 1 version"
    if not os.path.isabs(root):
        return "invalid root", "it is not an absolute path", "give an absolute root"
    return None


def open_regular(path: str):
    """``path`` opened for reading in binary mode, when it is a regular file (a symlink to one counts).

    Opened without blocking, so a FIFO in its place is refused at once (_fs.UnsafeFile, an OSError)
    rather than waited on forever; a device or directory is refused the same way.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _fs.UnsafeFile(
                f"{path} is not a regular file ({_fs._kind(mode)}): it is not read; remove or replace it"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: str) -> str:
    """SHA-256 of a regular file; _fs.UnsafeFile for a FIFO, device or directory."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def rel_applications(text: bytes, what: str) -> list[tuple[str, str]]:
    """(application, version) pairs of a .rel file: {release, {Name, Vsn}, {erts, Vsn}, [{App, Vsn, ...}]}."""
    try:
        terms = _erlterm.parse_all(text.decode("utf-8"))
    except (UnicodeDecodeError, _erlterm.TermError) as exc:
        raise ValueError(f"{what} is not a readable .rel file: {exc}") from None
    term = terms[0] if len(terms) == 1 else None
    if not (isinstance(term, tuple) and len(term) == 4 and term[0] == "release" and isinstance(term[3], list)):
        raise ValueError(f"{what} is not a .rel file: expected {{release, {{Name, Vsn}}, {{erts, Vsn}}, [Apps]}}")
    apps = []
    for entry in term[3]:
        if not (
            isinstance(entry, tuple) and len(entry) >= 2 and isinstance(entry[0], str) and isinstance(entry[1], str)
        ):
            raise ValueError(f"{what} names an application as {_erlterm.format_term(entry, 80)}, not {{App, Vsn}}")
        apps.append((str(entry[0]), str(entry[1])))
    return apps


def inspect_tarball(path: str, name: str, version: str) -> bool:
    """Check every member of a release tarball and that it holds a complete release.

    Complete: bin/<name>, releases/<version>/<name>.rel, and lib/<app>-<vsn>/ for every
    application the .rel names. The whole archive is read (a damaged one raises _tar.ArchiveError).
    Returns whether member names carry ``./`` prefixes. Raises _tar.UnsafeArchiveError,
    _tar.ArchiveError or ValueError with the reason.
    """
    rel = f"releases/{version}/{name}.rel"
    members, contents = _tar.read_archive(path, {rel})
    checked = _tar.check_members(members)
    names = {pair[0] for pair in checked}
    if rel not in names:
        raise ValueError(f"{path} is not release {name} {version}: it has no {rel}")
    missing = [] if f"bin/{name}" in names else [f"bin/{name}"]
    dirs = {n.split("/", 2)[1] for n in names if n.startswith("lib/") and n.count("/") >= 1}
    for app, vsn in rel_applications(contents.get(rel, b""), f"{rel} in {path}"):
        if f"{app}-{vsn}" not in dirs:
            missing.append(f"lib/{app}-{vsn}/")
    if missing:
        raise ValueError(
            f"{path} is not a complete release {name} {version}: it lacks {', '.join(missing)} "
            f"(bin/{name} and every application {rel} names must be in it)"
        )
    return any(pair[1].name.startswith("./") for pair in checked)


class Layout:
    """Paths of one release root."""

    def __init__(self, root: str, name: str) -> None:
        self.root = root
        self.name = name
        self.releases = os.path.join(root, "releases")
        self.current = os.path.join(root, "current")
        self.state = os.path.join(root, ".beamops")
        self.history = os.path.join(self.state, "history.json")
        self.record = os.path.join(self.state, "node.json")
        self.tarballs = os.path.join(self.state, "tarballs")
        self.lock = os.path.join(self.state, "lock")
        self.patches = os.path.join(self.state, "patches")

    def release_dir(self, version: str) -> str:
        return os.path.join(self.releases, version)

    def tarball(self, version: str) -> str:
        return os.path.join(self.tarballs, f"{self.name}-{version}.tar.gz")

    def patch_tarball(self, version: str) -> str:
        """A rebuild of installed ``version`` whose changed modules a hot patch loads (release state=patch)."""
        return os.path.join(self.patches, f"{self.name}-{version}.tar.gz")

    def staged_tarball(self, version: str) -> str:
        return os.path.join(self.current, "releases", version, f"{self.name}.tar.gz")

    def staged_rel(self, version: str) -> str:
        return os.path.join(self.current, "releases", version, f"{self.name}.rel")

    def current_version(self) -> str | None:
        """The version ``current`` points at, when it is a link into releases/."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        resolved = os.path.normpath(os.path.join(self.root, target))
        if os.path.dirname(resolved) != os.path.normpath(self.releases):
            return None
        return os.path.basename(resolved)

    def installed_versions(self) -> list[str]:
        """Unpacked versions (directories of releases/ with a valid version name, not links), sorted by name.

        ValueError, naming the directory and the user, when releases/ exists but cannot be listed."""
        entries = list_releases(self.releases)
        return sorted(
            e
            for e in entries
            if validate_version(e) is None
            and os.path.isdir(os.path.join(self.releases, e))
            and not os.path.islink(os.path.join(self.releases, e))
        )

    def untrue(self, version: str) -> str | None:
        """Why releases/<version> is not a tree that boots <version> (a link left by a hot upgrade,
        or a tree a hot upgrade changed in place); None when it boots <version> or cannot tell."""
        path = self.release_dir(version)
        if os.path.islink(path):
            return f"it is a link to {os.readlink(path)} left by a hot upgrade"
        booted = boot_version(path, self.name)
        if booted not in (None, version):
            return f"it boots {booted} (a hot upgrade changed it in place)"
        return None

    def hot_named(self, tree: str, version: str) -> str | None:
        """The name of ``tree`` (a directory of releases/) when it boots ``version`` under another
        name: a hot upgrade made it permanent in place. None when its name is already true."""
        real = os.path.realpath(tree)
        if os.path.dirname(real) != os.path.realpath(self.releases):
            return None
        name = os.path.basename(real)
        if name == version or validate_version(name) is not None or boot_version(real, self.name) != version:
            return None
        return name


def list_releases(path: str) -> list[str]:
    """The names in a releases/ directory; [] when it does not exist.

    ValueError naming the directory and the user this runs as when it exists but cannot be listed
    (a directory the user may enter but not read, mode 0311, or a file in its place)."""
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        euid = os.geteuid()
        try:
            user = pwd.getpwuid(euid).pw_name
        except KeyError:
            user = "?"
        todo = (
            "give that user read permission on it (chmod u+r, or g+r for its group), or run the task as the "
            "release's owner (become_user)"
            if isinstance(exc, PermissionError)
            else "move what is there aside; releases/ must be a directory"
        )
        raise ValueError(
            f"{path} cannot be listed by user {user} (uid {euid}): {exc.strerror or exc}; {todo}"
        ) from None


def boot_version(tree: str, name: str) -> str | None:
    """The version a cold start from a release directory boots: the REL_VSN written into relx's
    bin/<name>, else the release version in releases/start_erl.data (mix releases read it there).

    ValueError when either file is a FIFO, a device or a directory (never read)."""
    script = _fs.read_small(os.path.join(tree, "bin", name), _SCRIPT_LIMIT, errors="replace")
    for line in (script or "").splitlines():
        match = re.match(r'\s*REL_VSN="([^"]+)"', line)
        if match:
            return match.group(1)
    parts = (_fs.read_small(os.path.join(tree, "releases", "start_erl.data"), _HOLDER_LIMIT) or "").split()
    return parts[1] if len(parts) > 1 else None


def rename_tree(layout: Layout, old: str, new: str, uid: int = -1, gid: int = -1):
    """Give releases/<old>, hot-upgraded in place to <new>, the name of what it boots.

    What was at releases/<new> (an older tree of <new>, or a link) is moved aside; releases/<old>
    becomes a relative link to <new>, because the running node's code paths name it. Returns
    (undo, the aside directory to remove once the change is kept, or None).
    """
    src, dest = layout.release_dir(old), layout.release_dir(new)
    aside = move_aside(dest) if os.path.lexists(dest) else None
    try:
        os.rename(src, dest)
    except BaseException:
        if aside:
            restore_aside(aside, dest)
        raise
    link = os.path.join(layout.releases, f"{_TMP_PREFIX}link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(link)
    os.symlink(new, link)
    if uid != -1 or gid != -1:
        os.lchown(link, uid, gid)
    os.replace(link, src)

    def undo() -> None:
        os.unlink(src)
        os.rename(dest, src)
        if aside:
            os.rename(os.path.join(aside, "old"), dest)
            os.rmdir(aside)

    return undo, aside


def empty_history(name: str) -> dict:
    return {"format": HISTORY_FORMAT, "name": name, "previous": None, "versions": {}, "events": []}


def read_history(layout: Layout) -> dict:
    """The deploy state; an empty one when there is no file. ValueError when it is damaged."""
    try:
        data = json.loads(_fs.read_text(layout.history))
    except FileNotFoundError:
        return empty_history(layout.name)
    except _fs.UnsafeFile as exc:  # a FIFO, device or directory in its place, or far too large
        raise ValueError(str(exc)) from None
    except OSError as exc:  # no permission
        raise ValueError(f"{layout.history} cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:  # not JSON, not UTF-8
        raise ValueError(f"{layout.history} is damaged: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != HISTORY_FORMAT:
        raise ValueError(f"{layout.history} is not a history file of format {HISTORY_FORMAT}")
    base = empty_history(layout.name)
    base.update(data)
    problem = _history_problem(base)
    if problem:
        raise ValueError(f"{layout.history} is damaged: {problem}")
    return base


def _history_problem(history: dict) -> str | None:
    if history["previous"] is not None and validate_version(str(history["previous"])) is not None:
        return f"previous is {history['previous']!r}, not a version"
    if not isinstance(history["versions"], dict) or not all(
        isinstance(record, dict) for record in history["versions"].values()
    ):
        return "versions is not a map of version records"
    if not isinstance(history["events"], list):
        return "events is not a list"
    return None


def write_history(layout: Layout, history: dict) -> None:
    history["events"] = history["events"][-MAX_EVENTS:]
    write_atomic(layout.history, json.dumps(history, indent=2, sort_keys=True).encode() + b"\n")


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def copy_atomic(src: str, dest: str, mode: int = 0o600, uid: int = -1, gid: int = -1) -> None:
    """Copy ``src`` to ``dest`` through a temporary file beside ``dest`` and a rename.

    A missing parent directory is made (owned by ``uid``/``gid``, -1: unchanged).
    """
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755)
        os.chown(parent, uid, gid)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as source:
            shutil.copyfileobj(source, out, 1024 * 1024)
        os.chmod(tmp, mode)
        os.chown(tmp, uid, gid)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open_lock(path: str) -> int:
    """The lock file's descriptor, made when missing. Never blocks and never follows a symlink: a FIFO,
    device, directory or link in its place is refused (_fs.UnsafeFile) rather than waited on or written."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise _fs.UnsafeFile(f"{path} is a symlink: the lock is not taken through it; remove it") from None
        raise type(exc)(exc.errno, f"cannot open the lock {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _fs.UnsafeFile(f"{path} is not a regular file ({_fs._kind(mode)}): it is not used as the lock; remove it")
    return fd


def lock_holder(path: str) -> str:
    """Who holds the lock, as its holder wrote it into the file; "holder unknown" when nothing is written
    (a run of an older version, or another tool that took the flock)."""
    try:
        text = _fs.read_text(path, _HOLDER_LIMIT, errors="replace").strip()
    except OSError:
        text = ""
    return f"held by {text}" if text else "holder unknown"


@contextlib.contextmanager
def locked(layout: Layout, timeout: float = 300.0, sleep: float = 0.1):
    """Hold an exclusive flock on .beamops/lock (one deploy at a time per root), waiting for it at most
    ``timeout`` seconds (LockBusy, naming the lock and its holder, when it is not free by then).

    The holder writes its pid, host and start time into the file, so that a run that waits can say
    who it waits for; the file is emptied again before the lock is let go."""
    fd = _open_lock(layout.lock)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"the lock {layout.lock} of release root {layout.root} is still taken after {timeout:g}s "
                        f"({lock_holder(layout.lock)})"
                    ) from None
                time.sleep(min(sleep, max(0.0, deadline - time.monotonic())))
        try:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {since}"
            with contextlib.suppress(OSError):  # who holds it is for messages only
                os.ftruncate(fd, 0)
                os.pwrite(fd, holder.encode() + b"\n", 0)
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def resolve_ids(owner: str | None, group: str | None) -> tuple[int, int]:
    """uid and gid of a user and group name (or number); -1 for None. KeyError when unknown."""

    def lookup(value, by_name, field):
        if value is None:
            return -1
        return int(value) if str(value).isdigit() else getattr(by_name(value), field)

    return lookup(owner, pwd.getpwnam, "pw_uid"), lookup(group, grp.getgrnam, "gr_gid")


def owned_by(path: str, uid: int, gid: int) -> bool:
    st = os.lstat(path)
    return uid in (-1, st.st_uid) and gid in (-1, st.st_gid)


def chown_tree(path: str, uid: int, gid: int) -> None:
    """lchown ``path`` and everything below it (links themselves, never their targets)."""
    if uid == -1 and gid == -1:
        return
    os.lchown(path, uid, gid)
    for base, dirs, files in os.walk(path):
        for entry in dirs + files:
            os.lchown(os.path.join(base, entry), uid, gid)


def unpack_atomic(tarball: str, dest: str, replace: bool = False, uid: int = -1, gid: int = -1) -> int:
    """Unpack ``tarball`` into a temporary directory beside ``dest``, then rename it into place.

    On any failure the temporary directory is removed and ``dest`` is untouched. With
    ``replace`` an existing ``dest`` is swapped out (renamed aside, then removed). ``uid`` and
    ``gid`` (-1: unchanged) own the whole tree before it is renamed into place.
    """
    parent = os.path.dirname(dest)
    tmp = tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=parent)
    aside = None
    try:
        os.chmod(tmp, 0o755)
        count = _tar.unpack(tarball, tmp)
        chown_tree(tmp, uid, gid)
        if replace and os.path.lexists(dest):
            aside = tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=parent)
            os.rename(dest, os.path.join(aside, "old"))
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if aside and not os.path.lexists(dest):
            os.rename(os.path.join(aside, "old"), dest)
        raise
    finally:
        if aside:
            shutil.rmtree(aside, ignore_errors=True)
    return count


def remove_version(layout: Layout, version: str) -> None:
    """Remove an unpacked version and its kept tarball (whichever exists), and the links that
    named it (old names of a hot-upgraded tree)."""
    path = layout.release_dir(version)
    if os.path.islink(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    if os.path.exists(layout.tarball(version)):
        os.unlink(layout.tarball(version))
    with contextlib.suppress(OSError):
        for entry in os.listdir(layout.releases):
            link = os.path.join(layout.releases, entry)
            if os.path.islink(link) and not os.path.exists(link):
                os.unlink(link)


def switch_current(layout: Layout, version: str) -> None:
    """Point ``current`` at releases/<version>: a temporary symlink renamed over it."""
    tmp = os.path.join(layout.root, f"{_TMP_PREFIX}current-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", version), tmp)
    try:
        os.replace(tmp, layout.current)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def version_age(layout: Layout, history: dict, version: str) -> float:
    """When a version was installed: the history's record, else its directory's mtime."""
    record = history["versions"].get(version) or {}
    if isinstance(record.get("installed_at"), (int, float)):
        return float(record["installed_at"])
    try:
        return os.stat(layout.release_dir(version)).st_mtime
    except OSError:
        return 0.0


def prune_plan(versions: list[str], ages: dict[str, float], keep: int, protected: set[str]) -> list[str]:
    """Versions to remove, oldest first, so that at most ``keep`` remain; never a protected one."""
    excess = len(versions) - keep
    if excess <= 0:
        return []
    candidates = sorted((v for v in versions if v not in protected), key=lambda v: (ages.get(v, 0.0), v))
    return candidates[:excess]


def record_event(history: dict, action: str, **fields) -> None:
    history["events"].append({"at": round(time.time(), 3), "action": action, **fields})


def move_aside(path: str) -> str:
    """Rename ``path`` into a new temporary directory beside it; return that directory."""
    aside = tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=os.path.dirname(path))
    os.rename(path, os.path.join(aside, "old"))
    return aside


def restore_aside(aside: str, path: str) -> None:
    """Undo move_aside: whatever is at ``path`` now is removed, the old one renamed back."""
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.rename(os.path.join(aside, "old"), path)
    os.rmdir(aside)


def own_state(layout: Layout, uid: int, gid: int) -> list[str]:
    """Give the deploy state (.beamops/ and what it holds) and the current link to ``uid``/``gid``
    (-1: unchanged), so that every file a deploy writes under the root belongs to the release's
    owner. Returns the paths whose owner changed."""
    if uid == -1 and gid == -1:
        return []
    paths = [layout.state, layout.current, layout.releases]
    for base in (layout.state, layout.tarballs):
        with contextlib.suppress(OSError):
            paths.extend(os.path.join(base, entry) for entry in sorted(os.listdir(base)))
    changed = []
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if uid not in (-1, st.st_uid) or gid not in (-1, st.st_gid):
            os.lchown(path, uid, gid)
            changed.append(path)
    return changed


def keep_private(path: str, uid: int = -1, gid: int = -1) -> None:
    """A kept or staged tarball: readable by its owner only (a release may hold its cookie)."""
    os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)


def loose_tarballs(layout: Layout, uid: int = -1, gid: int = -1) -> list[str]:
    """Kept tarballs (and their directory) that others could read, or not owned as asked."""
    try:
        names = os.listdir(layout.tarballs)
    except OSError:
        return []
    paths = [layout.tarballs] + [os.path.join(layout.tarballs, n) for n in names if not n.startswith(_TMP_PREFIX)]
    loose = []
    for path in paths:
        st = os.lstat(path)
        if st.st_mode & 0o077 or not owned_by(path, uid, gid):
            loose.append(path)
    return loose


def stale_temporaries(layout: Layout) -> list[str]:
    """Temporary files and directories of this module left by a run that was killed.

    Only names with our own prefix, in the four directories where we make them. Call with the
    lock held: every run that makes them holds it, so none of them belongs to a live run.
    """
    found = []
    for folder in (layout.root, layout.releases, layout.state, layout.tarballs):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.extend(os.path.join(folder, n) for n in sorted(names) if n.startswith(_TMP_PREFIX))
    return found


def remove_path(path: str) -> None:
    """Remove a file, a symlink (never its target) or a directory tree."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


class Transaction:
    """Steps applied in order; on a failure, the completed ones are undone in reverse order.

    A step is a function that makes its change and returns how to undo it (a function), or None
    when it cannot be undone (a removal).
    """

    def __init__(self) -> None:
        self.done: list[tuple[str, Callable | None]] = []

    def run(self, what: str, step: Callable, *args) -> None:
        self.done.append((what, step(*args)))

    def rollback(self) -> tuple[list[str], list[str]]:
        """Undo what can be; return (what was undone, what stays changed)."""
        undone, left = [], []
        for what, undo in reversed(self.done):
            if undo is None:
                left.append(what)
                continue
            try:
                undo()
                undone.append(what)
            except OSError as exc:
                left.append(f"{what} (undoing it failed: {exc})")
        self.done = []
        return undone[::-1], left[::-1]
