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
    cut short or with a damaged header) is refused, and so is an incomplete release, which must hold
    C(bin/<name>), C(releases/<version>/<name>.rel) and C(lib/<app>-<vsn>/) for every application the
    C(.rel) names.
  - Switches C(<root>/current) atomically, recording the version it pointed at as RV(previous) in
    C(<root>/.beamops/history.json); stages tarballs for hot upgrades; prunes old versions.
  - A cold start from C(current) always boots the version C(current) names, whatever hot upgrades came
    before. A hot upgrade made permanent changes the node's tree in place (M(beamops.deploy.hot_upgrade)
    renames that tree after the version it boots and leaves its old name as a link). With O(state=current),
    a C(current) whose tree boots O(version) under another name is renamed the same way; a
    C(releases/<version>) that boots another version, or is such a link, is unpacked again from O(src) or,
    without it, from the tarball kept when the version was first deployed.
  - Runs on one root one at a time (a lock in C(<root>/.beamops)); the root is read and the change planned
    with the lock held, and C(current) is checked again just before it is switched. A run waits for the lock
    at most O(lock_timeout_s) seconds, then fails naming the lock file and the run that holds it.
  - Small files of the root (C(.beamops/history.json), C(releases/<version>/releases/start_erl.data), the
    start script C(bin/<name>)) are read only when they are regular files; a FIFO, device or directory in
    their place is refused at once, naming it.
  - Each step either completes or is undone when a later one fails (a failed history write puts C(current)
    back and removes the version just unpacked); removals of old versions, which cannot be undone, come last.
    A failed run reports C(changed) only for what stays changed, listed in C(not_undone).
  - Temporary files and directories left by a run that was killed (C(.beamops-tmp-*) in C(<root>),
    C(<root>/releases) and C(<root>/.beamops)) are removed, with the lock held, and listed in RV(cleaned).
  - Tarballs kept in C(<root>/.beamops/tarballs) and staged tarballs are readable by their owner only (mode
    C(0600), the directory C(0700)), since a release may carry its cookie in C(releases/COOKIE).
author:
  - beamops.deploy contributors (@beamops)
attributes:
  action:
    description: An action plugin of the same name runs on the controller and does the upload.
    support: full
  check_mode:
    support: full
    details: Nothing is transferred nor changed.
  diff_mode:
    support: full
    details: The current version and the installed versions before and after.
  idempotent:
    support: full
    details: Nothing is transferred either.
extends_documentation_fragment:
  - beamops.deploy.attributes
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
      - Required when O(state) is V(staged) or V(patch), and for V(present) or V(current) of a version not unpacked
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
      - V(patch) puts a rebuild of an installed version at C(<root>/.beamops/patches/<name>-<version>.tar.gz)
        (readable by its owner only), where M(beamops.deploy.hot_patch) with O(beamops.deploy.hot_patch#module:version)
        finds the modules that changed. It is never unpacked, and never kept as the version's own tarball.
      - V(absent) removes the unpacked version and its kept tarball; refused for the current and
        the previous version.
    type: str
    choices: [present, current, staged, patch, absent]
    default: present
  keep:
    description:
      - Prune the unpacked versions down to this number, oldest first (by install time recorded in
        the history, else by directory time).
      - The current version, the previous one and O(version) are never pruned, so more may remain.
    type: int
  owner:
    description:
      - User (name or number) that owns the unpacked release, the kept and the staged tarball, and
        the deploy state under C(<root>) (C(.beamops/), the C(current) link, C(releases/)).
      - When neither O(owner) nor O(group) is given and the module runs as root, a staged tarball takes the owner
        and group of C(<root>/current/releases), so that C(release_handler) of the running node can read it.
    type: str
  group:
    description: Group (name or number) of the same files as O(owner).
    type: str
  force:
    description:
      - Replace a version that is installed from a tarball with another SHA-256.
      - Never allowed for the current version. C(release_handler) never accepts a rebuilt tarball
        under a known version, so prefer a new version.
    type: bool
    default: false
  deploy_lock:
    description:
      - Take the deploy lock of O(root) in this call, before any change, as P(beamops.deploy.deploy_lock#module)
        with O(beamops.deploy.deploy_lock#module:state=locked) does. The task fails, naming who holds it and
        with nothing changed, when another run holds it.
      - The lock stays held when the task returns, whatever its outcome; the deploy_lock module releases it.
    type: dict
    suboptions:
      holder:
        description: This run's identity, as the P(beamops.deploy.deploy_holder#filter) filter gives it.
        type: dict
        required: true
      take_over:
        description: The holder found before (by P(beamops.deploy.release_info#module)) whose lock is moved aside first.
        type: dict
      mark:
        description: The drain mark to write once the lock is held (the member this run will drain).
        type: dict
  kept_sha256:
    description:
      - The SHA-256 of the tarball the target keeps for O(version) (an empty string for none), as
        P(beamops.deploy.release_info#module) returned it in its RV(beamops.deploy.release_info#module:kept_tarball).
        Given, the action plugin does not ask the target for it. A copy that changed since is found by the
        checksum the module checks before it unpacks.
    type: str
  lock_timeout_s:
    description:
      - Seconds to wait for the lock of the root when another run holds it.
      - When it is still held by then, the task fails naming the lock file C(<root>/.beamops/lock) and its
        holder (the pid and host that run wrote into it), and nothing is changed.
    type: int
    default: 300
notes:
  - In check mode a tarball not yet on the target is not inspected.
  - O(state=absent) on a root that holds neither C(releases/) nor C(.beamops/) creates nothing and reports
    no change (a mistyped root).
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
release_dir:
  description:
    - Directory of the unpacked version.
    - Named so that Ansible adds no file attributes (owner, mode, C(state) ...) to the result, as it does for C(path).
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
cleaned:
  description: Temporaries of interrupted runs removed from the root (to be removed, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/opt/myapp/releases/.beamops-tmp-k2j4h1x0]
not_undone:
  description:
    - On a failure after changes began, the steps that stay applied (removals cannot be undone);
      empty when every change was undone. C(changed) is true exactly when it is not empty.
  returned: on failure while applying
  type: list
  elements: str
  sample: ["removed 0.9.0 (keep)"]
deploy_lock:
  description:
    - With O(deploy_lock), what taking it found, V(taken), V(holder) (who holds it now), V(drained) (the drain mark
      an interrupted run left, read once the lock was taken; V(null) for none) and V(marked) (whether O(deploy_lock.mark)
      was written). Returned on failure too.
  returned: when O(deploy_lock) is given
  type: dict
  sample: {taken: true, holder: {user: deploy, controller: ci-1, pid: 4242}, drained: null, marked: true}
patch_tarball:
  description: Where the rebuild was placed for M(beamops.deploy.hot_patch).
  returned: when O(state=patch)
  type: str
  sample: /opt/myapp/.beamops/patches/myapp-1.2.0.tar.gz
staged_path:
  description: Where the tarball was staged for C(release_handler).
  returned: when O(state=staged)
  type: str
  sample: /opt/myapp/current/releases/1.2.0/myapp.tar.gz
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils._node_state import ReleaseManager, release_argument_spec


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **release_argument_spec(),
            "src": {"type": "path"},
            "checksum": {"type": "str"},
            "state": {
                "type": "str",
                "default": "present",
                "choices": ["present", "current", "staged", "patch", "absent"],
            },
            "force": {"type": "bool", "default": False},
            "deploy_lock": {
                "type": "dict",
                "options": {
                    "holder": {"type": "dict", "required": True},
                    "take_over": {"type": "dict"},
                    "mark": {"type": "dict"},
                },
            },
            "kept_sha256": {"type": "str"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**ReleaseManager(module).run())


if __name__ == "__main__":
    main()
