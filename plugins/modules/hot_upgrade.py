#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hot_upgrade
short_description: Upgrade a running BEAM node in place through release_handler, or roll it back
version_added: 0.1.0
description:
  - Installs a release on the running node with OTP's release_handler, with no restart and the
    process state kept (C(code_change)). The release tarball must carry a relup from the running version.
  - Preflight before any change. The node must answer, its running version is read, the tarball's
    C(relup) must hold an up-from entry for exactly the running version. A version left
    C(unpacked) by an earlier failure is cleared.
  - Then C(unpack_release), C(check_install_release), C(install_release) with C(update_paths),
    and C(make_permanent) unless O(permanent=false), so a play can probe between install and
    make_permanent. After make_permanent the start script C(bin/<name>) is replaced by
    C(bin/<name>-<vsn>) so that a later cold start boots the new version.
  - With the versioned layout of M(beamops.deploy.release) (C(<root>/current) a link into C(<root>/releases)),
    the node's tree boots the new version once it is permanent, so it is renamed
    C(<root>/releases/<version>) (what stood there is removed; the old name is left as a link to it, since
    the running node's code paths name it) and C(current) points at it, under the release module's lock.
    A cold start then boots the version C(current) names. The same follows a rollback made permanent.
  - With O(probe), the new code is probed in the same call before it is made permanent (the HTTP endpoint's
    O(probe.successes) answers in a row), and once more after (one answer), so that a deploy installs, probes,
    makes permanent and probes in one call. A failed probe fails the task with the version installed and
    not permanent (a VM restart boots the old one); roll it back with O(state=rolled_back).
  - An install error after the point of no return makes the node restart on its permanent
    release. The module waits for the node, returns RV(node_restarted) and the version it runs,
    and fails.
  - O(state=rolled_back) returns to the previous version. A version installed but never made
    permanent is left by restarting the node onto the permanent release; a permanent one is
    downgraded through its relup and the previous version made permanent.
  - The module reaches the node as a hidden node of its own (see the notes). Its name and
    cookie are found in the release itself (see the notes); the cookie never appears in arguments,
    the environment, logs or results, and no C(~/.erlang.cookie) is created. When the node cannot be
    reached, the failure message says why, with the node name and the cookie sources tried.
author:
  - beamops.deploy contributors (@beamops)
options:
  version:
    description:
      - Version to install with O(state=present).
      - With O(state=rolled_back), the version to return to; by default the permanent release when
        the running one is not permanent yet, else the newest release with status V(old).
      - One directory name (it names C(releases/<version>), where the tarball is staged), of letters, digits
        and C(. _ + ~ -); a version with C(/) or C(..) is refused before anything is done.
    type: str
  state:
    description: V(present) upgrades to O(version); V(rolled_back) returns to the previous version.
    type: str
    choices: [present, rolled_back]
    default: present
  permanent:
    description: Make the installed version permanent. V(false) leaves it current only, so a VM restart boots the old one.
    type: bool
    default: true
  tarball:
    description:
      - Release tarball on the node. By default C(<release dir>/releases/<version>/<name>.tar.gz),
        where M(beamops.deploy.release) with C(state=staged) puts it.
    type: path
  timeout_s:
    description:
      - Seconds each release_handler call may take.
      - The old name O(timeout) is deprecated and will be removed in 1.0.0.
    type: int
    default: 60
    aliases: [timeout]
  probe:
    description:
      - With O(state=present), the HTTP probe of the new code, between the install and C(make_permanent) and once
        after it. Not run in check mode, nor when the node runs O(version) permanent already.
    type: dict
  restart_timeout_s:
    description:
      - Seconds to wait for the node to answer again after it restarted.
      - The old name O(restart_timeout) is deprecated and will be removed in 1.0.0.
    type: int
    default: 60
    aliases: [restart_timeout]
extends_documentation_fragment:
  - beamops.deploy.node
  - beamops.deploy.node.release_root
  - beamops.deploy.upgrade_probe
  - beamops.deploy.attributes
  - beamops.deploy.attributes.release_host
attributes:
  check_mode:
    support: full
    details: Runs the preflight and reports the change it would make.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A node that runs O(version) already (permanent, with O(permanent)) is left as it is.
notes:
  - Run it as the user the release runs as (C(become_user)); release_handler writes in the release
    directory, and that user can read the release's cookie.
  - Drain the node first when the upgrade may restart it (a crashing C(code_change) does).
"""

EXAMPLES = r"""
- name: Hot upgrade to 1.1.0 and make it permanent
  beamops.deploy.hot_upgrade:
    name: myapp
    root: /opt/myapp
    version: "1.1.0"

- name: Install 1.2.0 without making it permanent yet
  beamops.deploy.hot_upgrade:
    name: myapp
    root: /opt/myapp
    version: "1.2.0"
    permanent: false

- name: Install 1.2.0, probe it, make it permanent and probe it again, in one call
  beamops.deploy.hot_upgrade:
    name: myapp
    root: /opt/myapp
    version: "1.2.0"
    probe:
      url: http://127.0.0.1:4000/health
      successes: 3

- name: Roll back to the previous version
  beamops.deploy.hot_upgrade:
    name: myapp
    root: /opt/myapp
    state: rolled_back
"""

RETURN = r"""
from_version:
  description: Version the node ran before.
  returned: always
  type: str
  sample: "1.0.0"
version:
  description: Version the node runs now.
  returned: always
  type: str
  sample: "1.1.0"
permanent_version:
  description: Version a VM restart boots now.
  returned: always
  type: str
  sample: "1.1.0"
cookie_source:
  description:
    - Where the cookie the node accepted came from (V(null) when it was not reached), never the cookie;
      the values are those of C(node.cookie_source) of M(beamops.deploy.release_info).
  returned: always
  type: str
  sample: vm_args
node_restarted:
  description: Whether the node restarted during the task (its application controller changed).
  returned: always
  type: bool
  sample: false
probe:
  description:
    - With O(probe), the probe before C(make_permanent), as P(beamops.deploy.health_probe#module) gives its figures
      (C(attempts), C(successes), C(failures), C(start_s), C(last_error)).
  returned: when the probe ran
  type: dict
  sample: {attempts: 3, successes: 3, failures: 0, start_s: 0.0, last_error: ""}
probe_permanent:
  description: With O(probe), the one answer required once the release was made permanent, the same figures.
  returned: when that probe ran
  type: dict
  sample: {attempts: 1, successes: 1, failures: 0, start_s: 0.0, last_error: ""}
timings_ms:
  description:
    - Milliseconds per phase. V(preflight), V(verify), V(make_permanent) and V(control_node) are measured
      around the questions to the node (V(control_node) covers those that unpack, check, install and
      read the state after; a hidden Erlang VM is started for each only where the module cannot
      connect itself, see the notes); V(unpack), V(check_install) and V(install) are the
      release_handler calls themselves, measured where the question is evaluated.
    - With O(permanent=true), a release installed and running but not yet permanent is made permanent in
      the V(preflight) question that reads the state (not with O(probe), which probes it first).
    - With O(probe), V(probe) and V(probe_permanent) are the probes before and after C(make_permanent).
  returned: always
  type: dict
  sample: {preflight: 420, control_node: 610, unpack: 160, check_install: 4, install: 16, make_permanent: 5}
current:
  description: Version C(<root>/current) names after the task (V(null) without the versioned layout).
  returned: when a version was made permanent
  type: str
  sample: "1.1.0"
renamed:
  description: The node's tree renamed after the version it boots now (a hot upgrade made permanent in it).
  returned: when the tree was renamed
  type: dict
  sample: {from: "1.0.0", to: "1.1.0"}
relup_from:
  description: Versions the release's relup upgrades from.
  returned: with O(state=present) when a relup was read
  type: list
  elements: str
  sample: ["1.0.0"]
"""

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _release
from ansible_collections.beamops.deploy.plugins.module_utils._dist import node_argument_spec, seconds_option
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import format_term
from ansible_collections.beamops.deploy.plugins.module_utils._otp import (
    NODEDOWN,
    OtpError,
    ReleaseRoot,
    erl_string,
    release_node,
    relup_sources,
)
from ansible_collections.beamops.deploy.plugins.module_utils._probe import (
    UPGRADE_PROBE_SPEC,
    upgrade_probe,
    upgrade_probe_problem,
)


class HotUpgrade:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.timings: dict[str, int] = {}
        self.result: dict = {
            "changed": False,
            "node_restarted": False,
            "timings_ms": self.timings,
            "cookie_source": None,
        }
        try:
            self.release, self.node = release_node(module, self.p)
        except OtpError as exc:
            self.fail(str(exc))

    def fail(self, msg: str) -> None:
        self.module.fail_json(msg=f"release {self.p['name']}: {msg}", **self.result)

    def timed(self, phase: str, func, *args):
        start = time.monotonic()
        try:
            return func(*args)
        finally:
            self.timings[phase] = self.timings.get(phase, 0) + int((time.monotonic() - start) * 1000)

    def rpc(self, phase: str, fun: str, args: str):
        answer, _elapsed = self.timed(phase, self.node.rpc, "release_handler", fun, args)
        if answer == NODEDOWN:
            self.fail(f"node {self.node.name} stopped answering during {phase}: {self.node.unreachable_reason}")
        return answer

    def status(self, phase: str) -> dict:
        return self.took_status(self.timed(phase, self.node.status))

    def took_status(self, state: dict) -> dict:
        """Follow the node's state: the directory it runs from, its running and permanent versions."""
        if state["up"] and "release_handler" in state["rpc_errors"]:
            self.fail(
                f"node {state['name']} answers but its release_handler does not "
                f"({state['rpc_errors']['release_handler']}): hot upgrades need the sasl application started "
                "in the release (rebar3: {sasl, ...} in relx's release applications)"
            )
        if state["up"] and state["root_dir"] and state["root_dir"] != self.release.path:
            # The node runs from another directory than root points at (current was switched
            # without a restart): release_handler works in the directory the node runs from.
            self.release = ReleaseRoot(state["root_dir"], self.p["name"])
        self.result.update(
            version=state["running_version"],
            permanent_version=state["permanent_version"],
            cookie_source=state["cookie_source"] or self.result["cookie_source"],
        )
        return state

    # --- preflight -------------------------------------------------------------------------
    def fix_start_script(self, version: str) -> None:
        if self.release.point_start_script(version) is None:
            self.module.warn(
                f"{self.release.script}-{version} does not exist: {self.release.script} still "
                f"boots {self.release.script_version()} on a cold start"
            )

    # --- state=present ---------------------------------------------------------------------
    def upgrade(self) -> None:
        version = self.p["version"]
        erl_string(version)
        made_permanent = None
        # With a probe, the installed release is probed before it is made permanent: no make_permanent with the read.
        if self.p["permanent"] and not self.module.check_mode and not self.p["probe"]:
            # The usual second call of a deploy (install, probe, then this): the release installed and
            # running, not yet permanent, is made so in the same control node that reads the status.
            before, made_permanent = self.timed(
                "preflight",
                self.node.status_then,
                version,
                "current",
                "release_handler",
                "make_permanent",
                f"[{erl_string(version)}]",
            )
            self.took_status(before)
        else:
            before = self.status("preflight")
        if not before["up"]:
            self.fail(
                f"node {before['name']} cannot be reached, and a hot upgrade needs the running node "
                f"(start it, or deploy cold): {before['unreachable_reason']}"
            )
        running = before["running_version"]
        self.result["from_version"] = running
        statuses = {r["version"]: r["status"] for r in before["releases"]}
        if running == version:
            if made_permanent is not None:
                self.made_permanent(version, made_permanent)
            elif self.p["permanent"] and statuses[version] != "permanent":
                self.probe_new(version, statuses)
                self.make_permanent(version)
                self.probe_permanent(version)
            elif self.p["permanent"] and not self.module.check_mode:
                self.result["changed"] = bool(self.release.point_start_script(version))
                self.name_tree(version)
            return
        tarball = self.p["tarball"] or self.release.staged_tarball(version)
        staged = os.path.isfile(tarball)
        target, ups, _downs = relup_sources(self.release.relup_text(version, tarball if staged else None))
        self.result["relup_from"] = ups
        if target != version:
            self.fail(f"the relup in {tarball} upgrades to {target}, not to {version}")
        if running not in ups:
            self.fail(
                f"the relup of {version} covers upgrades from {', '.join(ups) or 'nothing'}, "
                f"not from the running version {running} on node {self.node.name}: build "
                f"{version} with a relup from {running} (rebar3 relup -v {version} -u {running})"
            )
        self.result["changed"] = True
        if self.module.check_mode:
            return
        if statuses.get(version) == "unpacked":
            # Left unpacked by an earlier failed attempt: start from a clean slate.
            self.clear_unpacked(version, tarball if staged else None)
            statuses.pop(version)
            if not staged:
                self.fail(
                    f"version {version} was left unpacked by an earlier attempt and has been "
                    f"cleared; stage its tarball again (expected at {tarball})"
                )
        # unpack (when not unpacked yet), check, install and the node's status after, each its own question.
        calls = []
        if version not in statuses:
            self.release.stage(version, tarball)
            calls.append(("unpack", "unpack_release", f"[{erl_string(version + '/' + self.p['name'])}]"))
        calls.append(("check_install", "check_install_release", f"[{erl_string(version)}]"))
        calls.append(("install", "install_release", f"[{erl_string(version)}, [{{update_paths, true}}]]"))
        made, after = self.timed("control_node", self.node.steps, "release_handler", [c[1:] for c in calls])
        if made == NODEDOWN:
            self.fail(f"node {self.node.name} stopped answering before unpack: {self.node.unreachable_reason}")
        answers = {}
        for (phase, _fun, _args), step in zip(calls, made):
            if step is not None:
                answers[phase], self.timings[phase] = step
        if "unpack" in answers and not (isinstance(answers["unpack"], tuple) and answers["unpack"][0] == "ok"):
            self.fail(f"unpack_release of {version} failed on node {self.node.name}: {format_term(answers['unpack'])}")
        check = answers.get("check_install")
        if not (isinstance(check, tuple) and check[0] == "ok"):
            self.fail(
                f"check_install_release of {version} refused it on node {self.node.name} "
                f"(node unchanged, still running {running}): {format_term(check)}"
            )
        answer = answers.get("install")
        if not (isinstance(answer, tuple) and answer[0] == "ok"):
            self.install_failed(version, answer, before)
        self.result.update(
            version=after["running_version"],
            permanent_version=after["permanent_version"],
            cookie_source=after["cookie_source"] or self.result["cookie_source"],
        )
        if after["running_version"] != version:
            self.fail(f"node {self.node.name} runs {after['running_version']} after installing {version}")
        self.release.write_record(version=version, from_version=running)
        self.probe_new(version, statuses)
        if self.p["permanent"]:
            self.make_permanent(version)
            self.probe_permanent(version)

    def probe_new(self, version: str, statuses: dict) -> None:
        """With the probe option: the installed code, before make_permanent (not in check mode)."""
        if not self.p["probe"] or self.module.check_mode:
            return
        figures, failure = self.timed("probe", upgrade_probe, self.p["probe"])
        self.result["probe"] = figures
        if failure:
            permanent = next((v for v, status in statuses.items() if status == "permanent"), "?")
            self.fail(
                f"{failure}. The node runs {version}, installed and not permanent: a VM restart boots {permanent}; "
                "roll it back with state=rolled_back"
            )

    def probe_permanent(self, version: str) -> None:
        """With the probe option: one answer once the release is permanent (not in check mode)."""
        if not self.p["probe"] or self.module.check_mode:
            return
        figures, failure = self.timed("probe_permanent", upgrade_probe, self.p["probe"], 0.0, 1)
        self.result["probe_permanent"] = figures
        if failure:
            self.fail(f"{failure}, after {version} was made permanent")

    def rpc_install(self, version: str, before: dict):
        args = f"[{erl_string(version)}, [{{update_paths, true}}]]"
        answer = self.timed("install", self.node.rpc, "release_handler", "install_release", args)[0]
        if isinstance(answer, tuple) and answer[0] == "ok":
            return answer
        return self.install_failed(version, answer, before)

    def install_failed(self, version: str, answer, before: dict):
        """Fail after install_release did not answer {ok, ...}, saying what the node runs now."""
        # After the point of no return a failed install restarts the node on its permanent release.
        after = self.timed("wait_restart", self.node.wait_up, self.p["restart_timeout_s"])
        restarted = not after.get("up") or after.get("restart_marker") != before["restart_marker"]
        self.result.update(
            node_restarted=restarted,
            version=after.get("running_version"),
            permanent_version=after.get("permanent_version"),
        )
        state = (
            f"it restarted and now runs {after.get('running_version')}"
            if after.get("up")
            else f"it did not answer within {self.p['restart_timeout_s']}s ({self.node.unreachable_reason})"
        )
        self.fail(f"install_release of {version} failed on node {self.node.name} ({format_term(answer)}); {state}")
        return answer

    def clear_unpacked(self, version: str, tarball: str | None) -> None:
        """Forget a version left unpacked (remove_release deletes its directory), keeping a staged tarball."""
        keep = None
        if tarball:
            fd, keep = tempfile.mkstemp(dir=self.release.path, prefix=".beamops-tarball-")
            os.close(fd)
            shutil.copy2(tarball, keep)
        try:
            answer = self.rpc("clear_unpacked", "remove_release", f"[{erl_string(version)}]")
            if answer != "ok":
                self.fail(
                    f"could not clear version {version} left unpacked on node {self.node.name}: {format_term(answer)}"
                )
            if keep:
                os.makedirs(os.path.dirname(tarball), exist_ok=True)
                shutil.copy2(keep, tarball)
        finally:
            if keep:
                os.unlink(keep)

    def make_permanent(self, version: str) -> None:
        self.result["changed"] = True
        if self.module.check_mode:
            return
        self.made_permanent(version, self.rpc("make_permanent", "make_permanent", f"[{erl_string(version)}]"))

    def made_permanent(self, version: str, answer) -> None:
        """After release_handler's make_permanent answered: the start script and current follow."""
        self.result["changed"] = True
        if answer != "ok":
            self.fail(f"make_permanent of {version} failed on node {self.node.name}: {format_term(answer)}")
        self.fix_start_script(version)
        self.result["permanent_version"] = version
        self.name_tree(version)

    def name_tree(self, version: str) -> None:
        """Make C(current) name the version the node's tree boots now (versioned layout only).

        The node's tree (its root_dir under releases/) was made permanent on ``version`` in place,
        so a cold start from it boots ``version`` whatever its name: it is renamed after it (its old
        name stays as a link, which the running node's paths use) and current points at it.
        """
        layout = _release.Layout(self.p["root"], self.p["name"])
        self.result["current"] = None
        if not os.path.islink(layout.current):
            return
        tree = self.release.path
        try:
            with _release.locked(layout):
                history = _release.read_history(layout)
                old = layout.hot_named(tree, version)
                aside = None
                if old:
                    _undo, aside = _release.rename_tree(layout, old, version)
                    history["versions"].pop(old, None)
                    kept = layout.tarball(version)
                    history["versions"][version] = {
                        "sha256": _release.sha256_file(kept) if os.path.isfile(kept) else None,
                        "installed_at": time.time(),
                        "hot_upgraded_from": old,
                    }
                    _release.record_event(history, "renamed", **{"from": old, "to": version})
                    self.result["renamed"] = {"from": old, "to": version}
                before = layout.current_version()
                named = os.path.realpath(layout.release_dir(version)) == os.path.realpath(tree)
                if named and before != version:
                    _release.switch_current(layout, version)
                    history["previous"] = before
                    _release.record_event(history, "current", **{"from": before, "to": version, "hot": True})
                if old or (named and before != version):
                    _release.write_history(layout, history)
                    self.result["changed"] = True
                if aside:
                    _release.remove_path(aside)
        except (OSError, ValueError) as exc:
            self.module.warn(
                f"{layout.current} still names {layout.current_version()} while the node's tree {tree} boots "
                f"{version} ({exc}): run beamops.deploy.release with state=current and version={version}"
            )
        self.result["current"] = layout.current_version()

    # --- state=rolled_back -----------------------------------------------------------------
    def rollback(self) -> None:
        before = self.status("preflight")
        if not before["up"]:
            self.fail(
                f"node {before['name']} cannot be reached, start it before rolling back: {before['unreachable_reason']}"
            )
        running, permanent = before["running_version"], before["permanent_version"]
        self.result["from_version"] = running
        statuses = {r["version"]: r["status"] for r in before["releases"]}
        target, done = rollback_target(
            self.p["version"], running, permanent, before["releases"], self.release.read_record
        )
        if done:
            return  # already rolled back: nothing newer to leave
        if target is None:
            self.fail(
                f"node {self.node.name} knows no previous release to roll back to (releases: {format_term(statuses)})"
            )
        erl_string(target)
        if _release.validate_version(target):
            self.fail(
                f"the version to return to, {target!r}, is not a version ({_release.validate_version(target)}): "
                f"name the version with the version option (the hot upgrade record {self.release.record_path} "
                "or the node's release list gave it)"
            )
        if running == target and statuses.get(target) == "permanent":
            return
        if target not in statuses:
            self.fail(f"node {self.node.name} does not know version {target} (releases: {format_term(statuses)})")
        self.result["changed"] = True
        if self.module.check_mode:
            return
        if target == permanent:
            # Never made permanent: a restart of the node boots the permanent release.
            self.timed("restart", self.node.rpc, "init", "restart", "[]")
            time.sleep(1)
            after = self.timed("wait_restart", self.node.wait_up, self.p["restart_timeout_s"])
            self.result["node_restarted"] = True
            if after.get("running_version") != target:
                self.fail(f"node {self.node.name} runs {after.get('running_version')} after restarting onto {target}")
            self.result.update(version=target, permanent_version=after.get("permanent_version"))
            self.fix_start_script(target)
        else:
            self.rpc_install(target, before)
            self.make_permanent(target)
            self.status("verify")
        self.release.write_record(version=target, rolled_back_to=target, rolled_back_from=running)


def rollback_target(requested, running, permanent, releases, read_record) -> tuple[str | None, bool]:
    """(version state=rolled_back returns to, whether it is already rolled back).

    The version asked for; else the permanent release when the running one is not permanent yet;
    else the version the last hot upgrade to the running one came from (read_record() returns that
    record); else the newest release with status old; None when there is none.
    """
    if requested is not None:
        return requested, False
    if running != permanent:
        return permanent, False
    record = read_record()
    if record.get("version") == running and record.get("from_version"):
        return record["from_version"], False
    if record.get("rolled_back_to") == running:
        return None, True
    olds = [r["version"] for r in releases if r["status"] == "old"]
    return (olds[0] if olds else None), False


def check_options(params: dict) -> str | None:
    """Why the options cannot be used, before anything is read or written; None when they can.

    The version names directories (releases/<version>, where the tarball is staged) and the name names
    files (bin/<name>, <name>.tar.gz): each must be one plain path component."""
    version = params.get("version")
    if version is not None:
        why = _release.validate_version(version)
        if why:
            return (
                f"version {version!r} is refused: {why}. A version is one directory name (letters, digits "
                "and . _ + ~ -, not . or ..); give the release's own version, as in releases/<version>"
            )
    why = _release.validate_name(params["name"])
    if why:
        return f"name {params['name']!r} is refused: {why}. Give the release's name, as in bin/<name>"
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "root": {"type": "path", "required": True},
            "version": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "rolled_back"], "default": "present"},
            "permanent": {"type": "bool", "default": True},
            "tarball": {"type": "path"},
            "timeout_s": seconds_option("timeout", "int", 60),
            "restart_timeout_s": seconds_option("restart_timeout", "int", 60),
            "probe": {"type": "dict", "options": UPGRADE_PROBE_SPEC},
            **node_argument_spec(),
        },
        required_if=[("state", "present", ["version"])],
        supports_check_mode=True,
    )
    problem = check_options(module.params)
    if not problem and module.params["probe"]:
        problem = upgrade_probe_problem(module.params["probe"], module.no_log_values)
    if problem:
        module.fail_json(msg=f"release {module.params['name']}: {problem}; nothing was done")
    try:
        upgrade = HotUpgrade(module)
        if module.params["state"] == "present":
            upgrade.upgrade()
        else:
            upgrade.rollback()
    except (OtpError, ValueError) as exc:
        module.fail_json(msg=f"release {module.params['name']}: {exc}")
    module.exit_json(**upgrade.result)


if __name__ == "__main__":
    main()
