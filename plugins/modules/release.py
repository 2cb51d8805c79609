#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Upload, unpack, switch, stage and prune Erlang/Elixir releases on a node
version_added: 0.1.0
description:
  - Uploads a release tarball (relx or mix release) from the control node, unless the copy kept on
    the target in C(<root>/.beamops/tarballs/<name>-<version>.tar.gz) already has the same SHA-256.
  - Unpacks it safely into C(<root>/releases/<version>) (absolute names, C(..), links out of the
    release, devices, fifos, names colliding once C(./) is dropped are refused) through a temporary
    directory renamed into place, so a failure leaves nothing half-made.
  - The tarball is read to its end before anything is unpacked. A damaged one (gzip CRC or length, a tar
    cut short or with a damaged header) is refused, and so is an incomplete release: it must hold
    C(bin/<name>), C(releases/<version>/<name>.rel) and C(lib/<app>-<vsn>/) for every application the
    C(.rel) names.
  - Switches C(<root>/current) atomically, recording the version it pointed at as RV(previous) in
    C(<root>/.beamops/history.json); stages tarballs for hot upgrades; prunes old versions.
author:
  - beamops.deploy contributors (@beamops)
attributes:
  action:
    description: An action plugin of the same name runs on the controller and does the upload.
    support: full
  check_mode:
    description: Nothing is transferred nor changed; the module reports what would change.
    support: full
  diff_mode:
    description: Shows the current version and the installed versions before and after.
    support: full
  idempotent:
    description: A second run with the same arguments changes nothing and transfers nothing.
    support: full
options:
  name:
    description: Name of the release, as in C(releases/<version>/<name>.rel) inside the tarball.
    type: str
    required: true
  version:
    description:
      - Version of the release, the name of its directory under C(<root>/releases).
      - Letters, digits and C(. _ + ~ -) only; no C(/), no C(..).
    type: str
    required: true
  root:
    description: Release root on the target, for example C(/opt/myapp).
    type: path
    required: true
  src:
    description:
      - Path of the release tarball on the control node.
      - Required when O(state) is V(staged), and for V(present) or V(current) of a version not unpacked
        on the node yet (switching back to an unpacked version, for a rollback, needs no tarball).
      - The action plugin sends it to the target when needed and hands the module its path there.
    type: path
  checksum:
    description:
      - Expected SHA-256 of the tarball (64 hexadecimal digits).
      - Checked on the control node before anything is sent, and on the target before anything
        is unpacked or staged.
      - When omitted, the action plugin passes the SHA-256 it computed on the control node, so
        that the transfer is verified too.
    type: str
  state:
    description:
      - V(present) unpacks the version into C(<root>/releases/<version>).
      - V(current) does the same, then points C(<root>/current) at it.
      - V(staged) puts the tarball at C(<root>/current/releases/<version>/<name>.tar.gz) for
        C(release_handler) of the running release, without unpacking it anywhere; nothing changes
        when that version is already known there (its C(<name>.rel) exists).
      - V(absent) removes the unpacked version and its kept tarball; refused for the current and
        the previous version.
    type: str
    choices: [present, current, staged, absent]
    default: present
  keep:
    description:
      - Prune the unpacked versions down to this number, oldest first (by install time recorded in
        the history, else by directory time).
      - The current version, the previous one and O(version) are never pruned, so more may remain.
    type: int
  owner:
    description: User (name or number) that owns the unpacked release and the staged tarball.
    type: str
  group:
    description: Group (name or number) that owns the unpacked release and the staged tarball.
    type: str
  force:
    description:
      - Replace a version that is installed from a tarball with another SHA-256.
      - Never allowed for the current version. C(release_handler) never accepts a rebuilt tarball
        under a known version, so prefer a new version.
    type: bool
    default: false
notes:
  - In check mode a tarball not yet on the target is not inspected.
  - A staged tarball whose members carry C(./) prefixes is refused (C(release_handler) could not
    find C(releases/<version>/<name>.rel) in it).
"""

EXAMPLES = r"""
- name: Unpack 1.1.0 and make it the current release
  beamops.deploy.release:
    name: myapp
    version: 1.1.0
    root: /opt/myapp
    src: dist/myapp-1.1.0.tar.gz
    checksum: "{{ lookup('ansible.builtin.file', 'dist/myapp-1.1.0.tar.gz.sha256') }}"
    state: current
    keep: 3

- name: Stage 1.2.0 for a hot upgrade of the running node
  beamops.deploy.release:
    name: myapp
    version: 1.2.0
    root: /opt/myapp
    src: dist/myapp-1.2.0.tar.gz
    state: staged

- name: Remove an old version
  beamops.deploy.release:
    name: myapp
    version: 0.9.0
    root: /opt/myapp
    state: absent
"""

RETURN = r"""
version:
  description: The version this task was about.
  returned: always
  type: str
  sample: 1.1.0
path:
  description: Directory of the unpacked version.
  returned: always
  type: str
  sample: /opt/myapp/releases/1.1.0
current:
  description: The version C(current) points at after the task (null when there is none).
  returned: always
  type: str
  sample: 1.1.0
previous:
  description: The rollback target, the version C(current) pointed at before the last switch.
  returned: always
  type: str
  sample: 1.0.0
versions:
  description: Unpacked versions after the task, sorted by name.
  returned: always
  type: list
  elements: str
  sample: [1.0.0, 1.1.0]
pruned:
  description: Versions removed by O(keep).
  returned: always
  type: list
  elements: str
  sample: [0.9.0]
sha256:
  description: SHA-256 of the tarball.
  returned: when O(state) is not V(absent)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
transferred:
  description: Whether the tarball was sent to the target (added by the action plugin).
  returned: always
  type: bool
  sample: false
staged_path:
  description: Where the tarball was staged for C(release_handler).
  returned: when O(state=staged)
  type: str
  sample: /opt/myapp/current/releases/1.2.0/myapp.tar.gz
"""

import os
import time
from collections.abc import Callable

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _release, _tar


class ReleaseManager:
    """Reads the release root once, plans the difference, applies it unless in check mode."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.version = self.p["version"]
        self.layout = _release.Layout(self.p["root"], self.p["name"])
        self.path = self.layout.release_dir(self.version)
        self.steps: list[tuple[bool, Callable, tuple]] = []  # (is a change, function, arguments)
        self.pruned: list[str] = []
        self.result: dict = {}
        self.dotted = False

    def fail(self, what: str, why: str, todo: str) -> None:
        self.module.fail_json(
            msg=f"{what} of release {self.p['name']} {self.version} in {self.path}: {why}; {todo}",
            version=self.version,
            path=self.path,
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
        if p["state"] == "staged" and not (p["src"] or p["checksum"]):
            self.fail("missing src", "state=staged needs a tarball", "set src")

    def read(self) -> None:
        self.current = self.layout.current_version()
        self.versions = self.layout.installed_versions()
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
                self.fail("unsafe or wrong tarball", str(exc), "check name, version and src, or rebuild it")
        return remote, sha

    def plan_present(self, remote: str | None, sha: str) -> None:
        recorded = (self.history["versions"].get(self.version) or {}).get("sha256")
        exists = self.version in self.versions
        if exists and recorded in (None, sha):
            if recorded is None:
                self.steps.append((False, self._adopt, (sha,)))
            if not _release.owned_by(self.path, self.uid, self.gid):
                self.steps.append((True, _release.chown_tree, (self.path, self.uid, self.gid)))
            return
        if exists and not self.p["force"]:
            why = f"it is installed from sha256 {recorded}, the tarball has {sha}"
            self.fail("rebuilt tarball refused", why, "release a new version (or force: true if not current)")
        if exists and self.version == self.current:
            self.fail("refused to replace the current release", "force never replaces it", "switch current first")
        self.steps.append((True, self._unpack, (remote, sha, exists)))
        self.versions = sorted({*self.versions, self.version})

    def _adopt(self, sha: str) -> None:
        self.module.warn(f"{self.path} had no checksum record: adopted sha256 {sha} without comparing files")
        self.history["versions"][self.version] = {"sha256": sha, "installed_at": None}

    def _unpack(self, remote: str, sha: str, replace: bool) -> None:
        os.makedirs(self.layout.releases, exist_ok=True)
        try:
            _release.unpack_atomic(remote, self.path, replace=replace, uid=self.uid, gid=self.gid)
        except (_tar.ArchiveError, OSError) as exc:
            self.fail("unpack failed", str(exc), "nothing was left behind; fix the tarball or the disk and retry")
        self.history["versions"][self.version] = {"sha256": sha, "installed_at": time.time()}
        _release.record_event(self.history, "unpacked", version=self.version, sha256=sha)

    def plan_current(self) -> None:
        if self.current == self.version:
            return
        if os.path.lexists(self.layout.current) and not os.path.islink(self.layout.current):
            self.fail("cannot switch", f"{self.layout.current} is not a symlink", "move it aside")
        self.steps.append((True, self._switch, (self.current,)))
        self.previous, self.current = self.current, self.version

    def _switch(self, before: str | None) -> None:
        _release.switch_current(self.layout, self.version)
        self.history["previous"] = before
        _release.record_event(self.history, "current", **{"from": before, "to": self.version})

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
        self.steps.append((True, self._stage, (remote, target)))

    def _stage(self, remote: str, target: str) -> None:
        _release.copy_atomic(remote, target, uid=self.uid, gid=self.gid)
        _release.record_event(self.history, "staged", version=self.version, path=target)

    def plan_absent(self) -> None:
        if self.version in (self.current, self.previous):
            role = "current" if self.version == self.current else "previous (rollback target)"
            self.fail("refused to remove", f"it is the {role} version", "switch current to another version first")
        if self.version in self.versions or os.path.exists(self.layout.tarball(self.version)):
            self.steps.append((True, self._remove, (self.version,)))
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
        self.steps.extend((True, self._remove, (v,)) for v in self.pruned)
        self.versions = [v for v in self.versions if v not in self.pruned]

    def keep_tarball(self, remote: str | None) -> None:
        """Keep an accepted tarball, so that the next run needs no transfer."""
        kept = self.layout.tarball(self.version)
        if remote and os.path.abspath(remote) != os.path.abspath(kept):
            os.makedirs(self.layout.tarballs, mode=0o755, exist_ok=True)
            self.module.atomic_move(remote, kept)

    def run(self) -> dict:
        self.validate()
        self.read()
        state = self.p["state"]
        tarball = bool(self.p["src"] or self.p["checksum"])
        if state in ("present", "current") and not tarball and self.version not in self.versions:
            self.fail("missing src", f"version {self.version} is not unpacked on the node", "set src")
        remote, sha = self.source() if state != "absent" and tarball else (None, None)
        if state in ("present", "current") and tarball:
            self.plan_present(remote, sha)
        if state == "current":
            self.plan_current()
        if state == "staged":
            self.plan_staged(remote, sha)
        if state == "absent":
            self.plan_absent()
        self.plan_prune()
        if not self.module.check_mode:
            os.makedirs(self.layout.state, mode=0o755, exist_ok=True)
            with _release.locked(self.layout):
                for _change, func, args in self.steps:
                    func(*args)
                if self.steps:
                    _release.write_history(self.layout, self.history)
                self.keep_tarball(remote)
        after = {"current": self.current, "versions": list(self.versions)}
        self.result.update(
            changed=any(change for change, _f, _a in self.steps),
            version=self.version,
            path=self.path,
            current=self.current,
            previous=self.previous,
            versions=after["versions"],
            pruned=self.pruned,
            diff={"before": self.before, "after": after},
        )
        if sha:
            self.result["sha256"] = sha
        return self.result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "version": {"type": "str", "required": True},
            "root": {"type": "path", "required": True},
            "src": {"type": "path"},
            "checksum": {"type": "str"},
            "state": {"type": "str", "default": "present", "choices": ["present", "current", "staged", "absent"]},
            "keep": {"type": "int"},
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    module.exit_json(**ReleaseManager(module).run())


if __name__ == "__main__":
    main()
