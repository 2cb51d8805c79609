#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cold_upgrade
short_description: Switch a node to an unpacked release, restart it under systemd, and probe it, in one call
version_added: 0.2.0
description:
  - The cold counterpart of P(beamops.deploy.hot_upgrade#module), in one call to the node instead of
    four (switch, restart, wait for the start, probe and ask the node its release). Each step is the
    same as the module or task it replaces.
  - Switches C(<root>/current) to O(version), which must be unpacked already (P(beamops.deploy.release#module)
    with O(beamops.deploy.release#module:state=present) does that), under the root's lock, with its history
    recorded, as P(beamops.deploy.release#module) with O(beamops.deploy.release#module:state=current) does.
  - Stops the systemd unit O(service_name) (bounded by O(stop_timeout_s)), then starts it (bounded by
    O(start_timeout_s)).
  - Waits for the HTTP endpoint O(probe.url) to answer at all (up to O(start_timeout_s)), then requires
    O(probe.successes) answers in a row, as P(beamops.deploy.health_probe#module) with
    O(beamops.deploy.health_probe#module:start_timeout_s) does.
  - Then asks the node once which release it runs (as P(beamops.deploy.release_info#module) does). It must
    be O(version).
  - When C(current) is O(version) already and the node runs it, nothing is restarted. The node is only
    probed, and C(changed) is V(false).
  - A failure after the switch leaves C(current) at O(version) and says so (C(changed) is V(true)). The
    caller rolls back (the rolling role does, with this module towards the version that ran before).
author:
  - beamops.deploy contributors (@beamops)
options:
  name:
    description: Name of the release (its start script in C(bin/)).
    type: str
    required: true
  version:
    description: The version to run. It must be unpacked under C(<root>/releases/).
    type: str
    required: true
  root:
    description: Deploy root of the application, for example C(/opt/myapp).
    type: path
    required: true
  owner:
    description: Owner of the deploy state under O(root), as O(beamops.deploy.release#module:owner).
    type: str
  group:
    description: Group of the deploy state under O(root), as O(beamops.deploy.release#module:group).
    type: str
  keep:
    description: Versions to keep after the switch, as O(beamops.deploy.release#module:keep).
    type: int
  node_user:
    description:
      - The user the node runs as. When the module runs as root, that user's C(~/.erlang.cookie) is among the
        cookies tried (the release's own C(releases/COOKIE), C(vm.args) and C(env.sh) are tried first).
      - Defaults to O(owner).
    type: str
  service_name:
    description: The systemd unit that runs the release.
    type: str
    required: true
  stop_timeout_s:
    description:
      - Seconds C(systemctl stop) may take. Give the unit's C(TimeoutStopSec) and a margin, so that systemd
        kills a VM that does not stop and the start goes on.
    type: float
    default: 75
  start_timeout_s:
    description:
      - Seconds C(systemctl start) may take, and then again the seconds the started release may take to answer
        O(probe.url) at all.
    type: float
    default: 60
  probe:
    description:
      - The HTTP probe of the restarted node (the suboptions are those of
        P(beamops.deploy.hot_upgrade#module)'s O(beamops.deploy.hot_upgrade#module:probe) too).
    type: dict
    required: true
  lock_timeout_s:
    description: Seconds to wait for the root's lock when another task holds it, as in P(beamops.deploy.release#module).
    type: int
    default: 300
extends_documentation_fragment:
  - beamops.deploy.node
  - beamops.deploy.upgrade_probe
  - beamops.deploy.attributes
attributes:
  check_mode:
    support: full
    details:
      - Says whether C(current) would switch and the unit restart; nothing is switched, restarted or probed.
  diff_mode:
    support: full
    details:
      - The C(current) version and the installed versions, before and after.
  idempotent:
    support: full
    details:
      - A node whose C(current) is O(version) and that runs it is probed only.
  platform:
    description: The host that runs the release.
    support: full
    platforms: posix
notes:
  - Run it with the privileges C(systemctl) needs (C(become)); the release's files stay owned by O(owner).
  - The release's own start script without systemd is not handled here; the rolling role then switches with
    P(beamops.deploy.release#module) and restarts with the script.
seealso:
  - module: beamops.deploy.release
  - module: beamops.deploy.health_probe
  - module: beamops.deploy.hot_upgrade
"""

EXAMPLES = r"""
- name: Switch to 1.1.0, restart the unit, wait for three healthy answers and the node's own word
  beamops.deploy.cold_upgrade:
    name: myapp
    version: "1.1.0"
    root: /opt/myapp
    owner: myapp
    service_name: myapp.service
    probe:
      url: http://127.0.0.1:4000/health
      successes: 3
      interval_s: 0.5
  become: true
"""

RETURN = r"""
current:
  description: The version C(current) points at after the call.
  returned: always
  type: str
  sample: 1.1.0
previous:
  description: The version C(current) pointed at before the last switch (the rollback target).
  returned: always
  type: str
  sample: 1.0.0
switched:
  description: Whether C(current) was switched (in check mode, would be).
  returned: always
  type: bool
  sample: true
restarted:
  description: Whether the unit was restarted (in check mode, would be).
  returned: always
  type: bool
  sample: true
seconds:
  description: Seconds each step took (C(switch), C(restart), C(probe)), for the steps that ran.
  returned: always
  type: dict
  sample: {switch: 0.02, restart: 1.31, probe: 2.64}
probe:
  description:
    - The HTTP probe's figures, as P(beamops.deploy.health_probe#module) returns them (C(attempts), C(successes),
      C(failures), C(latencies_ms), C(last_error), C(elapsed), C(start_s), C(details)).
  returned: when the probe ran
  type: dict
release:
  description:
    - What the node answered after the probe (C(node), C(release_version), C(permanent_version), C(releases),
      C(applications), C(cookie_source)).
  returned: when the node answered
  type: dict
  sample: {node: myapp@node1, release_version: 1.1.0, permanent_version: 1.1.0}
"""

import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _node_state, _release
from ansible_collections.beamops.deploy.plugins.module_utils._dist import (
    DistError,
    flag_for_given_name,
    node_argument_spec,
)
from ansible_collections.beamops.deploy.plugins.module_utils._node_state import ReleaseManager, release_argument_spec
from ansible_collections.beamops.deploy.plugins.module_utils._otp import Node, OtpError, ReleaseRoot, release_node
from ansible_collections.beamops.deploy.plugins.module_utils._probe import (
    UPGRADE_PROBE_SPEC,
    NamedReleaseRoot,
    ProbeFailure,
    beam_check,
    upgrade_probe,
    upgrade_probe_problem,
)

_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]+$")


class ColdUpgrade:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.probe_p = self.p["probe"]
        self.result: dict = {"switched": False, "restarted": False, "seconds": {}}

    def fail(self, msg: str, **extra) -> None:
        changed = self.result["switched"] or self.result["restarted"]
        self.module.fail_json(msg=msg, changed=changed, **{**self.result, **extra})

    def validate(self) -> None:
        p, q = self.p, self.probe_p
        for option, value in (("version", p["version"]), ("name", p["name"])):
            why = _release.validate_version(value) if option == "version" else _release.validate_name(value)
            if why:
                self.module.fail_json(msg=f"Invalid {option} {value!r}: {why}. Nothing was changed.")
        if not _UNIT.match(p["service_name"]):
            self.module.fail_json(
                msg=f"Invalid service_name {p['service_name']!r}: give the name of a systemd unit "
                "(letters, digits and :_.\\@-). Nothing was changed."
            )
        if p["stop_timeout_s"] <= 0 or p["start_timeout_s"] <= 0:
            self.module.fail_json(msg="stop_timeout_s and start_timeout_s must be above 0. Nothing was changed.")
        problem = upgrade_probe_problem(q, self.module.no_log_values)
        if problem:
            self.module.fail_json(msg=f"{problem}. Nothing was changed.")
        if p["node_name"]:
            try:
                flag_for_given_name(p["node_name"])
            except DistError as exc:
                self.module.fail_json(msg=f"Invalid node_name: {exc}. Nothing was changed.")
        user = p["node_user"] or p["owner"]
        try:
            _node_state.as_node_user(user)
        except KeyError:
            self.module.fail_json(msg=f"Invalid node_user: no user {user} on this host. Nothing was changed.")

    def node(self) -> Node:
        p = self.p
        located = ReleaseRoot.locate(p["root"], p["name"])
        release = NamedReleaseRoot(located.path, p["name"], p["node_name"])
        try:
            return release_node(
                self.module,
                p,
                release,
                timeout=self.probe_p["attempt_timeout_s"],
                timeout_option="probe.attempt_timeout_s",
            )[1]
        except OtpError as exc:
            self.fail(f"Cannot address the node of release {p['name']}: {exc}. Set node_name.")
        raise AssertionError  # fail() exits

    def runs_version(self) -> bool:
        """Whether the node answers now, running the version (then no restart is needed)."""
        try:
            beam_check(self.node(), self.probe_p["attempt_timeout_s"], self.p["version"], [])
        except ProbeFailure:
            return False
        return True

    def switch(self) -> None:
        """current -> version through the node-state owner (planned only in check mode)."""
        p = self.p
        params = {
            "name": p["name"],
            "version": p["version"],
            "root": p["root"],
            "src": None,
            "checksum": None,
            "state": "current",
            "keep": p["keep"],
            "owner": p["owner"],
            "group": p["group"],
            "force": False,
            "lock_timeout_s": p["lock_timeout_s"],
        }
        t0 = time.monotonic()
        answer = ReleaseManager(self.module, params).run()
        self.result["seconds"]["switch"] = round(time.monotonic() - t0, 3)
        self.result.update(switched=True, current=answer["current"], previous=answer["previous"], diff=answer["diff"])
        if answer.get("pruned"):
            self.result["pruned"] = answer["pruned"]

    def systemctl(self, verb: str, timeout: float) -> None:
        unit = self.p["service_name"]
        try:
            done = subprocess.run(
                ["systemctl", verb, unit],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            hint = (
                "systemd did not stop it: raise stop_timeout_s above the unit's TimeoutStopSec"
                if verb == "stop"
                else "its start hangs, or needs a longer start timeout (start_timeout_s, rolling_start_timeout)"
            )
            self.fail(self.after_switch(f"systemctl {verb} {unit} did not end within {timeout:g}s: {hint}"))
        except OSError as exc:
            self.fail(self.after_switch(f"systemctl {verb} {unit} could not run: {exc}"))
        if done.returncode != 0:
            text = done.stdout.decode("utf-8", "replace").strip()[-2000:]
            self.fail(self.after_switch(f"systemctl {verb} {unit} failed (exit {done.returncode}): {text}"))

    def after_switch(self, what: str) -> str:
        where = f"current points at {self.p['version']}"
        if self.result["switched"]:
            where += f" (switched from {self.result.get('previous')})"
        return f"{what}; {where}"

    def restart(self) -> None:
        t0 = time.monotonic()
        self.result["restarted"] = True
        self.systemctl("stop", self.p["stop_timeout_s"])
        self.systemctl("start", self.p["start_timeout_s"])
        self.result["seconds"]["restart"] = round(time.monotonic() - t0, 3)

    def probe(self, restarted: bool) -> None:
        q = self.probe_p
        t0 = time.monotonic()
        figures, failure = upgrade_probe(q, self.p["start_timeout_s"] if restarted else 0.0)
        self.result["probe"] = figures
        if failure:
            self.result["seconds"]["probe"] = round(time.monotonic() - t0, 3)
            self.fail(self.after_switch(failure))
        try:
            self.result["release"] = beam_check(self.node(), q["attempt_timeout_s"], self.p["version"], [])
        except ProbeFailure as exc:
            if exc.details:
                self.result["release"] = exc.details
            self.result["seconds"]["probe"] = round(time.monotonic() - t0, 3)
            self.fail(
                self.after_switch(
                    f"http probe passed, but the node of release {self.p['name']} is not what was expected: {exc}"
                )
            )
        self.result["seconds"]["probe"] = round(time.monotonic() - t0, 3)

    def run(self) -> None:
        self.validate()
        layout = _release.Layout(self.p["root"], self.p["name"])
        if self.p["version"] not in self.installed(layout):
            self.module.fail_json(
                msg=f"Release {self.p['name']} {self.p['version']} is not unpacked under {layout.releases}: "
                "send it first (beamops.deploy.release with state=present). Nothing was changed."
            )
        current = layout.current_version()
        self.result.update(current=current, previous=self.previous(layout))
        already = current == self.p["version"]
        restart = not (already and self.runs_version())
        if not already:
            self.switch()  # plans only, in check mode
        if self.module.check_mode:
            self.result["restarted"] = restart
            self.module.exit_json(changed=not already or restart, **self.result)
        if restart:
            self.restart()
        self.probe(restart)
        self.module.exit_json(changed=self.result["switched"] or self.result["restarted"], **self.result)

    def previous(self, layout: _release.Layout) -> str | None:
        try:
            return _release.read_history(layout).get("previous")
        except ValueError:
            return None  # the switch, which needs it, says what is wrong with it

    def installed(self, layout: _release.Layout) -> list[str]:
        try:
            return layout.installed_versions()
        except ValueError as exc:
            self.module.fail_json(msg=f"Unreadable release root {self.p['root']}: {exc}. Nothing was changed.")
        return []


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **release_argument_spec(),
            "node_user": {"type": "str"},
            "service_name": {"type": "str", "required": True},
            "stop_timeout_s": {"type": "float", "default": 75.0},
            "start_timeout_s": {"type": "float", "default": 60.0},
            "probe": {"type": "dict", "required": True, "options": UPGRADE_PROBE_SPEC},
            **node_argument_spec(),
        },
        supports_check_mode=True,
    )
    ColdUpgrade(module).run()


if __name__ == "__main__":
    main()
