# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The owner of a node's deploy state under a release root (target side, standard library only).

Every change to a release root goes through ReleaseManager: it takes the root's lock, removes what
killed runs left, plans the difference (unpack, rename a hot-upgraded tree, switch ``current``,
stage, remove, prune), applies it step by step with an undo for each, and writes the history last.
The release module is its thin front; cold_upgrade switches through it before its restart.
rollback_plan reads where a node returns in a fleet rollback (release_info returns it). The
layout and the primitives (atomic writes, the lock, the history's format) are in _release.
This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import stat
import time
from collections.abc import Callable

from ansible_collections.beamops.deploy.plugins.module_utils import _deploy_lock, _fs, _patch, _release, _tar


def release_argument_spec() -> dict:
    """The options every module that changes a release root takes (release, cold_upgrade)."""
    return {
        "name": {"type": "str", "required": True},
        "version": {"type": "str", "required": True},
        "root": {"type": "path", "required": True},
        "keep": {"type": "int"},
        "owner": {"type": "str"},
        "group": {"type": "str"},
        "lock_timeout_s": {"type": "int", "default": 300},
    }


class ApplyError(Exception):
    """A step found the root other than planned: (what failed, why, what to do)."""


class ReleaseManager:
    """Plans the difference under the root's lock, then applies it unless in check mode.

    Every step either completes or is undone when a later one fails (removals, which cannot be
    undone, come last), so that a failed run leaves the root as it found it, or says what it changed.
    """

    def __init__(self, module, params: dict | None = None) -> None:
        self.module = module
        self.p = module.params if params is None else params
        self.version = self.p["version"]
        self.layout = _release.Layout(self.p["root"], self.p["name"])
        self.path = self.layout.release_dir(self.version)
        # (is a change, what it does, function returning its undo or None, arguments)
        self.steps: list[tuple[bool, str, Callable, tuple]] = []
        self.pruned: list[str] = []
        self.cleaned: list[str] = []
        self.result: dict = {}
        self.dotted = False
        self.commit_actions: list[Callable] = []
        self.renamed: str | None = None
        self.sha: str | None = None
        # The deploy lock this call took (deploy_lock option), reported on success and on failure alike.
        self.deploy_lock: dict | None = None

    def fail(self, what: str, why: str, todo: str, **extra) -> None:
        if self.deploy_lock is not None:
            extra.setdefault("deploy_lock", self.deploy_lock)
            # A lock taken (or a mark written) stays: a change, whatever failed after it.
            extra["changed"] = extra.get("changed", False) or self.deploy_lock_changed()
        self.module.fail_json(
            msg=f"{what} of release {self.p['name']} {self.version} in {self.path}: {why}; {todo}",
            version=self.version,
            release_dir=self.path,
            **extra,
        )

    def deploy_lock_changed(self) -> bool:
        return bool(self.deploy_lock and (self.deploy_lock["taken"] or self.deploy_lock.get("marked")))

    def take_deploy_lock(self) -> None:
        """With the deploy_lock option: the root's deploy lock for its holder (and the drain mark), before any
        change; refused, naming who holds it, when another run does."""
        wanted = self.p.get("deploy_lock")
        if not wanted:
            return
        if not wanted.get("holder"):
            self.fail("invalid deploy_lock", "its holder is empty", "give this run's identity (deploy_holder filter)")
        try:
            self.deploy_lock = _deploy_lock.acquire(
                self.p["root"], wanted["holder"], wanted.get("take_over"), wanted.get("mark"), self.module.check_mode
            )
        except _deploy_lock.LockError as exc:
            self.fail("cannot take the deploy lock", str(exc), "nothing was changed")
        found = self.deploy_lock["holder"]
        if not self.deploy_lock["taken"] and not _deploy_lock.same(found, wanted["holder"]):
            who = (
                "a run whose holder cannot be read"
                if not found
                else f"{found.get('user', '?')}@{found.get('controller', '?')} (ansible-playbook pid "
                f"{found.get('pid', '?')}), deploying {found.get('version', '?')} since {found.get('since', '?')}"
            )
            self.fail(
                "deploy lock held",
                f"another deploy holds {_deploy_lock.paths(self.p['root'])[0]}: {who}",
                "nothing was changed; wait for it to end, or take it over (deploy_lock.take_over) if that run is gone",
            )

    def validate(self) -> None:
        p = self.p
        problem = _release.check_inputs(p["name"], self.version, p["checksum"], p["keep"], p["root"])
        if problem:
            self.fail(*problem)
        try:
            self.uid, self.gid = _release.resolve_ids(p["owner"], p["group"])
        except KeyError as exc:
            self.fail("unknown owner or group", str(exc), "create it first or fix owner/group")
        if p["lock_timeout_s"] < 0:
            self.fail(
                "invalid lock_timeout_s", f"{p['lock_timeout_s']} is below 0", "give the seconds to wait, 0 or more"
            )
        if p["state"] in ("staged", "patch") and not (p["src"] or p["checksum"]):
            self.fail("missing src", f"state={p['state']} needs a tarball", "set src")

    def read(self) -> None:
        self.current = self.layout.current_version()
        try:
            self.versions = self.layout.installed_versions()
        except ValueError as exc:
            self.fail("unreadable release root", str(exc), "nothing was changed")
        try:
            self.history = _release.read_history(self.layout)
        except ValueError as exc:
            self.fail("unreadable deploy state", str(exc), "move the file aside and run again")
        self.previous = self.history.get("previous")
        self.before = {"current": self.current, "versions": list(self.versions)}

    def source(self) -> tuple[str | None, str]:
        """The tarball on the target (None in check mode before a transfer) and its SHA-256."""
        remote, expected = self.p["src"], self.p["checksum"]
        if remote and os.path.isfile(remote):
            sha = _release.sha256_file(remote)
        elif self.module.check_mode and expected:
            remote, sha = None, expected.lower()
        else:
            self.fail("no tarball", f"{remote or 'src'} is not on the target", "run the task with src set")
        if expected and sha != expected.lower():
            why = f"the tarball on the target has sha256 {sha}, not {expected}"
            self.fail("checksum mismatch", why, "check the artifact, or retry if the transfer broke")
        if remote:
            try:
                self.dotted = _release.inspect_tarball(remote, self.p["name"], self.version)
            except (_tar.ArchiveError, OSError, ValueError) as exc:
                self.fail("unsafe, damaged or wrong tarball", str(exc), "check name, version and src, or rebuild it")
        return remote, sha

    def plan_present(self, remote: str | None, sha: str) -> None:
        recorded = (self.history["versions"].get(self.version) or {}).get("sha256")
        exists = self.version in self.versions
        untrue = self.layout.untrue(self.version) if os.path.lexists(self.path) else None
        if untrue:
            # Whatever a hot upgrade left under this name, a cold start from it would not boot the version.
            self.steps.append((True, f"unpacked {self.path} again ({untrue})", self._unpack, (remote, sha, True)))
            self.versions = sorted({*self.versions, self.version})
            return
        if exists and recorded in (None, sha):
            if recorded is None:
                self.steps.append((False, f"adopted {self.path}", self._adopt, (sha,)))
            if not _release.owned_by(self.path, self.uid, self.gid):
                self.steps.append((True, f"owner of {self.path}", self._chown, ()))
            return
        if exists and not self.p["force"]:
            why = f"it is installed from sha256 {recorded}, the tarball has {sha}"
            self.fail("rebuilt tarball refused", why, "release a new version (or force: true if not current)")
        if exists and self.version == self.current:
            self.fail("refused to replace the current release", "force never replaces it", "switch current first")
        self.steps.append((True, f"unpacked {self.path}", self._unpack, (remote, sha, exists)))
        self.versions = sorted({*self.versions, self.version})

    def _adopt(self, sha: str):
        self.module.warn(f"{self.path} had no checksum record: adopted sha256 {sha} without comparing files")
        self.history["versions"][self.version] = {"sha256": sha, "installed_at": None}
        return lambda: None  # only the history, which is written last

    def _chown(self) -> None:
        _release.chown_tree(self.path, self.uid, self.gid)

    def _unpack(self, remote: str, sha: str, replace: bool):
        os.makedirs(self.layout.releases, exist_ok=True)
        aside = _release.move_aside(self.path) if replace else None
        try:
            _release.unpack_atomic(remote, self.path, uid=self.uid, gid=self.gid)
        except BaseException:
            if aside:
                _release.restore_aside(aside, self.path)
            raise
        self.history["versions"][self.version] = {"sha256": sha, "installed_at": time.time()}
        _release.record_event(self.history, "unpacked", version=self.version, sha256=sha)
        if aside:
            self.commit_actions.append(lambda: _release.remove_path(aside))
            return lambda: _release.restore_aside(aside, self.path)
        return lambda: _release.remove_path(self.path)

    def plan_current(self) -> None:
        if self.current == self.version:
            return
        if os.path.lexists(self.layout.current) and not os.path.islink(self.layout.current):
            self.fail("cannot switch", f"{self.layout.current} is not a symlink", "move it aside")
        if self.renamed:
            self.steps.append(
                (
                    True,
                    f"renamed releases/{self.renamed} to releases/{self.version} (hot-upgraded in place)",
                    self._rename,
                    (self.renamed,),
                )
            )
            self.versions = sorted({*(v for v in self.versions if v != self.renamed), self.version})
        self.steps.append((True, f"current -> {self.version}", self._switch, (self.current,)))
        self.previous, self.current = self.current, self.version

    def _rename(self, old: str):
        undo, aside = _release.rename_tree(self.layout, old, self.version, self.uid, self.gid)
        record = self.history["versions"].pop(old, None) or {}
        kept = self.layout.tarball(self.version)
        sha = self.sha or (_release.sha256_file(kept) if os.path.isfile(kept) else None)
        self.history["versions"][self.version] = {"sha256": sha, "installed_at": time.time(), "hot_upgraded_from": old}
        _release.record_event(self.history, "renamed", **{"from": old, "to": self.version})
        if aside:
            self.commit_actions.append(lambda: _release.remove_path(aside))

        def undone() -> None:
            undo()
            self.history["versions"].pop(self.version, None)
            if record:
                self.history["versions"][old] = record

        return undone

    def _switch(self, before: str | None):
        # The plan was made under the lock; a writer that does not take it could still have moved things.
        if not os.path.isdir(self.path):
            raise ApplyError("cannot switch", f"{self.path} is gone", "run again")
        if self.layout.current_version() != before:
            now = self.layout.current_version()
            raise ApplyError("cannot switch", f"current moved from {before} to {now} meanwhile", "run again")
        _release.switch_current(self.layout, self.version)
        self.history["previous"] = before
        _release.record_event(self.history, "current", **{"from": before, "to": self.version})
        if before is None:
            return lambda: os.unlink(self.layout.current)
        return lambda: _release.switch_current(self.layout, before)

    def plan_staged(self, remote: str | None, sha: str) -> None:
        target = self.layout.staged_tarball(self.version)
        self.result["staged_path"] = target
        if not os.path.isdir(self.layout.current):
            self.fail("cannot stage", f"{self.layout.current} does not exist", "deploy a current release first")
        if os.path.exists(self.layout.staged_rel(self.version)):
            return
        if os.path.isfile(target):
            if _release.sha256_file(target) == sha:
                return
            if not self.p["force"]:
                self.fail("staged tarball differs", f"{target} has another sha256", "use a new version or force")
        if self.dotted:
            self.fail("cannot stage", "members carry './' prefixes", "rebuild the tarball without them")
        self.steps.append((True, f"staged {target}", self._stage, (remote, target)))

    def _stage(self, remote: str, target: str):
        uid, gid = self.uid, self.gid
        if uid == -1 and gid == -1 and os.geteuid() == 0:
            # release_handler reads it as the user the node runs as: the owner of the running release.
            st = os.stat(os.path.dirname(os.path.dirname(target)))
            uid, gid = st.st_uid, st.st_gid
        made = not os.path.isdir(os.path.dirname(target))
        old = _release.move_aside(target) if os.path.lexists(target) else None
        _release.copy_atomic(remote, target, mode=0o600, uid=uid, gid=gid)
        _release.record_event(self.history, "staged", version=self.version, path=target)
        if old:
            self.commit_actions.append(lambda: _release.remove_path(old))
            return lambda: _release.restore_aside(old, target)
        return lambda: _release.remove_path(os.path.dirname(target) if made else target)

    def plan_patch(self, remote: str | None, sha: str) -> None:
        """A rebuild of an installed version, placed for beamops.deploy.hot_patch (never unpacked, never kept
        as the version's own tarball)."""
        target = self.layout.patch_tarball(self.version)
        self.result["patch_tarball"] = target
        if self.version not in self.versions:
            self.fail(
                "cannot place a patch",
                f"version {self.version} is not installed under {self.p['root']}",
                "a patch is a rebuild of the version the node runs: deploy that version first",
            )
        if os.path.isfile(target) and _release.sha256_file(target) == sha:
            return
        self.steps.append((True, f"placed {target}", self._place_patch, (remote, target)))

    def _place_patch(self, remote: str, target: str):
        if not os.path.isdir(self.layout.patches):
            os.makedirs(self.layout.patches, mode=0o755)
            os.chown(self.layout.patches, self.uid, self.gid)
        old = _release.move_aside(target) if os.path.lexists(target) else None
        _release.copy_atomic(remote, target, mode=0o600, uid=self.uid, gid=self.gid)
        _release.record_event(self.history, "patch_placed", version=self.version, sha256=self.sha)
        if old:
            self.commit_actions.append(lambda: _release.remove_path(old))
            return lambda: _release.restore_aside(old, target)
        return lambda: _release.remove_path(target)

    def plan_absent(self) -> None:
        if self.version in (self.current, self.previous):
            role = "current" if self.version == self.current else "previous (rollback target)"
            self.fail("refused to remove", f"it is the {role} version", "switch current to another version first")
        if self.version in self.versions or os.path.exists(self.layout.tarball(self.version)):
            self.steps.append((True, f"removed {self.version}", self._remove, (self.version,)))
            self.versions = [v for v in self.versions if v != self.version]

    def _remove(self, version: str) -> None:
        _release.remove_version(self.layout, version)
        self.history["versions"].pop(version, None)
        _release.record_event(self.history, "removed", version=version)

    def plan_prune(self) -> None:
        if self.p["keep"] is None:
            return
        protected = {v for v in (self.current, self.previous, self.version) if v}
        ages = {v: _release.version_age(self.layout, self.history, v) for v in self.versions}
        self.pruned = _release.prune_plan(self.versions, ages, self.p["keep"], protected)
        self.steps.extend((True, f"removed {v} (keep)", self._remove, (v,)) for v in self.pruned)
        self.versions = [v for v in self.versions if v not in self.pruned]

    def plan_private_tarballs(self) -> None:
        loose = _release.loose_tarballs(self.layout, self.uid, self.gid)
        if loose:
            self.steps.insert(0, (True, "made kept tarballs private", self._private, (loose,)))

    def _private(self, paths: list[str]) -> None:
        for path in paths:
            _release.keep_private(path, self.uid, self.gid)

    def keep_tarball(self, remote: str | None) -> None:
        """Keep an accepted tarball, private to its owner, so that the next run needs no transfer."""
        kept = self.layout.tarball(self.version)
        if not remote or os.path.abspath(remote) == os.path.abspath(kept):
            return
        try:
            if not os.path.isdir(self.layout.tarballs):
                os.makedirs(self.layout.tarballs, mode=0o700)
            _release.keep_private(self.layout.tarballs, self.uid, self.gid)
            self.module.atomic_move(remote, kept)
            _release.keep_private(kept, self.uid, self.gid)
        except OSError as exc:
            self.module.warn(f"the tarball was not kept as {kept} ({exc}): the next run will send it again")

    def apply(self, remote: str | None) -> None:
        """Run the planned steps, write the history; on a failure undo them all and say what stays."""
        txn = _release.Transaction()
        try:
            for _change, what, func, args in self.steps:
                txn.run(what, func, *args)
            if self.steps:
                _release.write_history(self.layout, self.history)
        except (ApplyError, _tar.ArchiveError, OSError, ValueError) as exc:
            undone, left = txn.rollback()
            what, why, todo = exc.args if isinstance(exc, ApplyError) else ("apply failed", str(exc), "")
            told = f"changed and not undone: {', '.join(left)}" if left else "nothing was changed"
            if undone:
                told += f" (undone: {', '.join(undone)})"
            self.fail(
                what, why, f"{told}; {todo or 'fix the cause and run again'}", changed=bool(left), not_undone=left
            )
        for action in self.commit_actions:
            try:
                action()
            except OSError as exc:
                self.module.warn(f"a replaced file was not removed: {exc}")
        if self.p["state"] != "patch":  # a rebuild is never kept as the version's own tarball
            self.keep_tarball(remote)

    def plan_checked(self) -> tuple[str | None, str | None]:
        """plan(), failing with the file named when a file of the root cannot be read (a FIFO or a
        device where a small file belongs, refused rather than read)."""
        try:
            return self.plan()
        except ValueError as exc:
            self.fail("unreadable release root", str(exc), "nothing was changed")
        return None, None

    def plan(self) -> tuple[str | None, str | None]:
        self.read()
        state = self.p["state"]
        # current's tree may boot this version under another name: a hot upgrade made it permanent there.
        self.renamed = self.layout.hot_named(self.layout.current, self.version) if state == "current" else None
        untrue = None
        if state in ("present", "current") and not self.renamed and os.path.lexists(self.path):
            untrue = self.layout.untrue(self.version)
        if untrue and not (self.p["src"] or self.p["checksum"]):
            # Unpack it again from the tarball kept when it was first deployed.
            kept = self.layout.tarball(self.version)
            if not os.path.isfile(kept):
                self.fail(
                    "missing src",
                    f"{self.path} does not boot {self.version}: {untrue}, and no tarball of it is kept at {kept}",
                    "set src to the tarball of this version",
                )
            self.p["src"] = kept
        tarball = bool(self.p["src"] or self.p["checksum"])
        if state in ("present", "current") and not tarball and self.version not in self.versions:
            if not self.renamed:
                self.fail("missing src", f"version {self.version} is not unpacked on the node", "set src")
        remote, sha = self.source() if state != "absent" and tarball else (None, None)
        self.sha = sha
        if state in ("present", "current") and tarball and not self.renamed:
            self.plan_present(remote, sha)
        if state == "current":
            self.plan_current()
        if state == "staged":
            self.plan_staged(remote, sha)
        if state == "patch":
            self.plan_patch(remote, sha)
        if state == "absent":
            self.plan_absent()
        self.plan_prune()
        if state != "absent":
            self.plan_private_tarballs()
        return remote, sha

    def clean(self) -> None:
        """Remove what killed runs left (the lock is held: none of it belongs to a live run)."""
        for path in _release.stale_temporaries(self.layout):
            try:
                _release.remove_path(path)
                self.cleaned.append(path)
            except OSError as exc:
                self.module.warn(f"a temporary left by an interrupted run was not removed: {path}: {exc}")

    def run(self) -> dict:
        self.validate()
        if self.p["state"] == "absent" and not (
            os.path.isdir(self.layout.releases) or os.path.isdir(self.layout.state)
        ):
            # A mistyped root must not be made: there is nothing to remove.
            return dict(
                changed=False,
                msg=f"nothing to remove: {self.p['root']} holds no releases (no releases/ nor .beamops/)",
                version=self.version,
                release_dir=self.path,
                current=None,
                previous=None,
                versions=[],
                pruned=[],
                cleaned=[],
            )
        self.take_deploy_lock()
        owned = []
        if self.module.check_mode:
            self.cleaned = _release.stale_temporaries(self.layout)
            remote, sha = self.plan_checked()
        else:
            os.makedirs(self.layout.state, mode=0o755, exist_ok=True)
            with contextlib.ExitStack() as held:
                try:
                    held.enter_context(_release.locked(self.layout, timeout=self.p["lock_timeout_s"]))
                except _release.LockBusy as exc:
                    self.fail(
                        "root busy", str(exc), "nothing was changed; wait for that run to end, or raise lock_timeout_s"
                    )
                except OSError as exc:  # a FIFO or a directory in the lock's place, no permission
                    self.fail("cannot take the lock", str(exc), "nothing was changed")
                self.clean()
                remote, sha = self.plan_checked()
                self.apply(remote)
                owned = _release.own_state(self.layout, self.uid, self.gid)
        after = {"current": self.current, "versions": list(self.versions)}
        if self.deploy_lock is not None:
            self.result["deploy_lock"] = self.deploy_lock
        self.result.update(
            changed=any(change for change, _w, _f, _a in self.steps)
            or bool(self.cleaned)
            or bool(owned)
            or self.deploy_lock_changed(),
            version=self.version,
            release_dir=self.path,
            current=self.current,
            previous=self.previous,
            versions=after["versions"],
            pruned=self.pruned,
            cleaned=self.cleaned,
            diff={"before": self.before, "after": after},
        )
        if sha:
            self.result["sha256"] = sha
        return self.result


# --- who runs the release ------------------------------------------------------------------------------


def read_identity(root: str, name: str) -> dict:
    """Who runs the release under ROOT and how it is started: the record the node role wrote
    (<root>/.beamops/node.json: user, group, home, service_manager, service_name, http_port), else the
    owner of the root, started by a manager found later (``auto``). ``recorded`` says which.

    Raises FileNotFoundError when ROOT does not exist."""
    record, _refused = read_json_object(_release.Layout(root, name).record)
    if record.get("user"):
        identity = {key: value for key, value in record.items() if isinstance(value, (str, int))}
        identity.setdefault("service_manager", "auto")
        identity.setdefault("service_name", name)
        identity.setdefault("group", "")
        identity["recorded"] = True
    else:
        st = os.stat(root)
        identity = {
            "user": _user_name(st.st_uid),
            "group": _group_name(st.st_gid),
            "service_manager": "auto",
            "service_name": name,
            "recorded": False,
        }
    if not identity.get("home"):
        try:
            identity["home"] = pwd.getpwnam(str(identity["user"])).pw_dir
        except KeyError:
            identity["home"] = ""
    return identity


def record_text(record: dict) -> str:
    """node.json as written: sorted keys, 4 spaces, a final newline (what Ansible's to_nice_json gave)."""
    return json.dumps(record, indent=4, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def prepare_root(root: str, name: str, record: dict, check: bool = False) -> dict:
    """Make the release root, releases/ and .beamops/ (0755) and write RECORD to node.json (0644), all owned
    by record's user and group; only what differs is changed (in check mode, nothing: the result says what
    would be). Returns ``made`` and ``fixed`` (paths made, or whose owner or mode was put right),
    ``recorded`` (node.json written) and ``before``/``after``, node.json's text, for a diff.

    Raises KeyError for a user or group this host does not have (in check mode, that is a user the play
    would have made first: what it would own is then counted as changing)."""
    try:
        uid, gid = _release.resolve_ids(str(record["user"]), str(record["group"]))
    except KeyError:
        if not check:
            raise
        uid = gid = -1
    layout = _release.Layout(root, name)
    done = {"made": [], "fixed": [], "recorded": False}
    for path in (root, layout.releases, layout.state):
        if not os.path.lexists(path):
            done["made"].append(path)
            if not check:
                os.makedirs(path, mode=0o755)
                os.chmod(path, 0o755)  # whatever the umask
                os.chown(path, uid, gid)
        elif _set_owner(path, uid, gid, check, directory=True):
            done["fixed"].append(path)
    after = record_text(record)
    try:
        before = _fs.read_text(layout.record, limit=1024 * 1024)
    except (OSError, ValueError):
        before = ""
    if before != after:
        done["recorded"] = True
        if not check:
            _release.write_atomic(layout.record, after.encode("utf-8"), mode=0o644)
            os.chown(layout.record, uid, gid)
    elif _set_owner(layout.record, uid, gid, check, directory=False):
        done["fixed"].append(layout.record)
    done.update(before=before, after=after)
    return done


def _set_owner(path: str, uid: int, gid: int, check: bool, directory: bool) -> bool:
    """Give PATH this owner and mode (0755 for a directory, 0644 for a file); whether it had to. A directory may
    be reached through a link (a root under /opt linked to another disk); a file must be a plain file."""
    st = os.stat(path) if directory else os.lstat(path)
    if not (stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)):
        raise ValueError(f"{path} is not {'a directory' if directory else 'a plain file'}: move it aside")
    mode = 0o755 if directory else 0o644
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode):
        return False
    if not check:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def as_node_user(user: str | None, home: str | None = None) -> None:
    """Run as root for a node of USER: that user's ~/.erlang.cookie is the one tried (_dist reads HOME).

    Raises KeyError for a user this host does not have."""
    if not user or os.geteuid() != 0 or user == "root":
        return
    os.environ["HOME"] = home or pwd.getpwnam(user).pw_dir


# --- the fleet rollback's plan of one node ---------------------------------------------------------


def read_json_object(path: str) -> tuple[dict, str]:
    """(the JSON object at path, or {} when there is none or it is damaged; why it was refused, or "").

    A FIFO, a device or a file over the cap in its place is refused, never read (_fs)."""
    try:
        data = json.loads(_fs.read_text(path, limit=16 * 1024 * 1024))
    except _fs.UnsafeFile as exc:
        return {}, str(exc)
    except (OSError, ValueError):
        return {}, ""
    return (data if isinstance(data, dict) else {}), ""


def release_tree(root: str) -> str:
    """The release tree a cold start uses: current's target, else the root itself (a plain release dir)."""
    current = os.path.join(root, "current")
    return os.path.realpath(current) if os.path.lexists(current) else root


def rollback_plan(root: str, info: dict, bad: str, method: str = "auto", to: str = "", report_before: str = "") -> dict:
    """The plan of plan_rollback from the node's own files: action (rollback or leave), target, method,
    source, reason, knows_bad, problem."""
    info = {"root": root, **info}
    if method == "patch":
        return plan_patch_rollback(info, _patch.read_records(_release.Layout(root, "")), bad)
    history, refused = read_json_object(os.path.join(root, ".beamops", "history.json"))
    record, refused_record = read_json_object(os.path.join(release_tree(root), "releases", ".beamops-hot-upgrade.json"))
    out = plan_rollback(info, history, record, bad, method, to, report_before)
    if refused or refused_record:
        out["problem"] = refused or refused_record
    return out


def plan_patch_rollback(info: dict, records: list[dict], bad: str) -> dict:
    """Where a node on version BAD returns in a fleet rollback of hot patches: the code its newest patch still
    applied replaced (the version stays)."""
    node = info.get("node") or {}
    running = node.get("running_version") or ""
    applied = [r for r in records if r.get("state") == "applied"]
    out = {"action": "leave", "target": "", "method": "", "source": "", "reason": "", "problem": ""}
    out["knows_bad"] = running == bad or bool(records)
    if not node.get("up"):
        out["problem"] = "its node does not run: start it first, a rollback probes the node it returns"
    elif running != bad:
        out["reason"] = f"runs {running or 'nothing'}, not {bad}: left alone"
    elif not applied:
        out["reason"] = f"runs {bad} with no hot patch applied: left alone"
    else:
        out.update(action="rollback", target=bad, method="patch", source=f"hot patch {applied[-1]['id']}")
    return out


def plan_rollback(
    info: dict, history: dict, record: dict, bad: str, method: str = "auto", to: str = "", report_before: str = ""
) -> dict:
    """Where a node on version BAD returns to, from what release_info saw (INFO: current, previous,
    installed, node, root), the deploy history, the hot upgrade record, and the user's settings."""
    node = info.get("node") or {}
    running = node.get("running_version") or ""
    permanent = node.get("permanent_version") or running
    current = info.get("current") or ""
    installed = info.get("installed") or []
    known = {r.get("version"): r.get("status") for r in node.get("releases") or [] if isinstance(r, dict)}
    versions = history.get("versions") if isinstance(history.get("versions"), dict) else {}
    knows_bad = bad in versions or bad in installed or bad in known or history.get("previous") == bad
    out = {"action": "leave", "target": "", "method": "", "source": "", "reason": "", "knows_bad": knows_bad}
    out["problem"] = ""
    damaged = next(((v, r) for v, r in versions.items() if not isinstance(r, dict)), None)
    if damaged:
        path = os.path.join(info.get("root") or "<root>", ".beamops", "history.json")
        out["problem"] = (
            f"{path} is damaged: the record of version {damaged[0]} under versions is {json.dumps(damaged[1])}, "
            "not a map: move the file aside (the release module starts a new one) and name the version to "
            "return to with rolling_rollback_to=<version>"
        )
        return out
    if not node.get("up"):
        out["problem"] = "its node does not run: start it first, a rollback probes the node it returns"
        return out
    if bad not in (running, current):
        out["reason"] = f"runs {running or 'nothing'} (current {current or 'none'}), not {bad}: left alone"
        return out
    out["action"] = "rollback"
    hot_from = (versions.get(bad) or {}).get("hot_upgraded_from")
    record_from = record.get("from_version") if record.get("version") == bad else None
    installed_hot = running == bad and permanent != bad
    if method == "auto":
        method = "hot" if (hot_from or record_from or installed_hot) and running == bad else "cold"
    out["method"] = method
    previous = history.get("previous")
    if to:
        target, source = to, "rolling_rollback_to"
    elif method == "hot" and installed_hot:
        target, source = permanent, "the permanent release (never made permanent)"
    elif method == "hot" and record_from:
        target, source = record_from, "the node's hot upgrade record"
    elif method == "hot" and hot_from:
        target, source = hot_from, "the node's history"
    elif method == "cold" and previous and previous != bad:
        target, source = previous, "the node's history"
    elif report_before and report_before not in ("none", bad):
        target, source = report_before, "the deploy's report"
    else:
        target, source = "", ""
    out["target"], out["source"] = target, source
    if not target:
        out["problem"] = (
            f"the version it ran before {bad} is unknown (its history names no previous version other than {bad})"
            ": name it with rolling_rollback_to=<version>, or give the deploy's JSON report with"
            " rolling_rollback_report=<path>"
        )
    elif target == bad:
        out["problem"] = f"the version to return to is {bad} itself: fix rolling_rollback_to or rolling_version"
    elif method == "cold" and target not in installed:
        out["problem"] = (
            f"{target} is not unpacked under {info.get('root') or 'the root'}/releases (unpacked: "
            f"{', '.join(installed) or 'none'}): deploy {target} with beamops.deploy.rolling and rolling_src, "
            "or name an unpacked version with rolling_rollback_to"
        )
    elif method == "hot" and target not in known:
        out["problem"] = (
            f"release_handler of the node does not know {target} (it knows "
            f"{', '.join(f'{v} {s}' for v, s in known.items()) or 'nothing'}): roll back cold with "
            "rolling_rollback_method=cold, or name a version it knows with rolling_rollback_to"
        )
    return out
