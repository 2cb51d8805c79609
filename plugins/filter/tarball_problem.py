# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: tarball_problem
short_description: What is wrong with a release tarball on the control node, or nothing
version_added: 0.1.0
description:
  - Reads a release tarball on the control node to its end with the same checks the
    M(beamops.deploy.release) module makes on the target before it unpacks anything, so that a play
    can refuse a bad tarball before the first node is drained.
  - Damaged archives (a flipped byte caught by the gzip CRC, a tar cut short, a damaged member
    header), unsafe members (absolute paths, C(..) components, symlinks or hard links that leave
    the release directory, devices, fifos) and incomplete releases (no C(bin/<name>), no
    C(releases/<version>/<name>.rel), an application the C(.rel) names without its C(lib/) directory).
  - With O(checksum), the tarball's sha256 must be that one (checked first, before it is read as an archive).
  - Returns an empty string for a sound tarball, else the reason, naming the file and the member.
  - The rolling, hot_upgrade and blue_green roles check their tarball with this filter at preflight.
positional: _input, name, version
options:
  _input:
    description: Path of the release tarball on the control node.
    type: path
    required: true
  name:
    description: Release name (C(bin/<name>), C(releases/<version>/<name>.rel)).
    type: str
    required: true
  version:
    description: Release version the tarball must hold.
    type: str
    required: true
  checksum:
    description: The sha256 the tarball must have (64 hex digits, any case); empty or omitted for no check.
    type: str
    default: ""
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Refuse a damaged, unsafe or incomplete tarball before any change
  ansible.builtin.assert:
    that: __problem | length == 0
    fail_msg: "{{ __problem }}"
  vars:
    __problem: >-
      {{ '/srv/dist/myapp-1.1.0.tar.gz' | beamops.deploy.tarball_problem('myapp', '1.1.0', checksum=myapp_sha256) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: Empty for a sound, safe and complete release tarball; else what is wrong with it.
  type: str
"""

import hashlib
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.module_utils import _release, _tar


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tarball_problem(path: str, name: str, version: str, checksum: str | None = "") -> str:
    for value, what in ((name, "name"), (version, "version")):
        if not isinstance(value, str) or not value:
            raise AnsibleFilterError(f"tarball_problem: the release {what} must be a non-empty string")
    why = _release.validate_name(name) or _release.validate_version(version)
    if why:
        raise AnsibleFilterError(f"tarball_problem: invalid release name or version ({name!r}, {version!r}): {why}")
    if not os.path.isfile(path):
        return f"{path} is not a file on the control node"
    if checksum:
        if not isinstance(checksum, str):
            raise AnsibleFilterError("tarball_problem: checksum must be a sha256 string")
        try:
            actual = _sha256(path)
        except OSError as exc:
            return f"{path} cannot be read: {exc}"
        if actual != checksum.strip().lower():
            return f"{path} has sha256 {actual}, not {checksum}"
    try:
        _release.inspect_tarball(path, name, version)
    except _tar.UnsafeArchiveError as exc:
        return f"{path} is unsafe: {exc}"
    except _tar.ArchiveError as exc:
        return f"{path} is damaged: {exc}"
    except (ValueError, OSError) as exc:
        return str(exc)
    return ""


class FilterModule:
    def filters(self):
        return {"tarball_problem": tarball_problem}
