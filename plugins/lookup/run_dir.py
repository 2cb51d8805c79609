# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: run_dir
short_description: The directory ansible-playbook was started from
version_added: 0.1.0
description:
  - Returns the working directory of the controller process, the directory the user ran
    C(ansible-playbook) from, whatever the playbook's own directory is and whether C(PWD) is set.
  - Given paths, returns each one resolved against that directory (an absolute path as it is), the way
    the roles read the tarball and hook file paths a user gives with C(-e).
  - The roles of this collection resolve relative tarball paths given with C(-e) against it and
    write their reports there.
  - C(ansible.builtin.pipe) runs its command in the playbook's directory, and
    C(ansible.builtin.env) reads C(PWD), which a scheduler may not set; neither gives this directory.
author:
  - beamops.deploy contributors (@beamops)
options:
  _terms:
    description: Paths to resolve against the directory; none for the directory itself.
    type: list
    elements: path
    required: false
"""

EXAMPLES = r"""
- name: Resolve a tarball path given relative to where the user runs the playbook
  ansible.builtin.set_fact:
    myapp_tarball: "{{ lookup('beamops.deploy.run_dir', 'dist/myapp-1.1.0.tar.gz') }}"

- name: Where the reports go by default
  ansible.builtin.debug:
    msg: "{{ lookup('beamops.deploy.run_dir') }}/beamops-reports"
"""

RETURN = r"""
_raw:
  description: The absolute path of the directory, as a one-element list; given paths, each one resolved.
  type: list
  elements: str
"""

import os

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        here = os.getcwd()
        if not terms:
            return [here]
        return [os.path.join(here, str(term)) for term in terms]
