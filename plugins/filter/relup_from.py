# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: relup_from
short_description: Versions a relup file upgrades from
version_added: 0.1.0
description:
  - Reads a C(relup) file and returns the versions it holds an upgrade path from, so a play can
    check before any change that a hot upgrade covers the version a node runs.
  - The input is the text of the relup file, or, with O(version), the path of a release tarball
    on the control node, read at C(releases/<version>/relup).
positional: _input, version
options:
  _input:
    description: Text of the relup file, or a release tarball's path when O(version) is given.
    type: str
    required: true
  version:
    description: Version of the release in the tarball.
    type: str
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Refuse a relup that does not cover the running version
  ansible.builtin.assert:
    that: running_version in (relup_text | beamops.deploy.relup_from)

- name: The same, read from the release tarball on the control node
  ansible.builtin.assert:
    that: running_version in ('/srv/releases/myapp-1.1.0.tar.gz' | beamops.deploy.relup_from('1.1.0'))
"""

RETURN = r"""
_value:
  description: The up-from versions, in the file's order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.module_utils._otp import OtpError, relup_from_tarball, relup_sources


def relup_from(data: str, version: str | None = None) -> list[str]:
    try:
        text = relup_from_tarball(data, version) if version is not None else data
        return relup_sources(text)[1]
    except OtpError as exc:
        raise AnsibleFilterError(f"relup_from: {exc}") from exc
    except ValueError as exc:
        raise AnsibleFilterError(f"relup_from: not a relup file: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"relup_from": relup_from}
