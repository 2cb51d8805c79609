#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_info
short_description: Report the releases installed on a BEAM node and what the running node says
version_added: 0.1.0
description:
  - Reads the release layout under O(root) (C(releases/<vsn>) and the C(current) link, as the
    M(beamops.deploy.release) module makes it, or a plain relx release directory).
  - Asks the running node, through C(release_handler:which_releases/0), which releases it knows
    and which one runs, and tells whether a cold restart would boot the version that runs now
    (the relx start script has its version written into it).
  - The module reaches the node as a hidden node of its own (see the notes). Its name and
    cookie are found in the release itself (see the notes); the cookie never appears in arguments,
    the environment or results, and no C(~/.erlang.cookie) is created.
  - When the node cannot be reached, RV(node.unreachable_reason) says why, with the node name and
    the cookie sources tried.
author:
  - beamops.deploy contributors (@beamops)
options:
  name:
    description: Name of the release (C(bin/<name>) in the release directory).
    type: str
    required: true
  root:
    description:
      - Deploy root of the application, for example C(/opt/myapp).
      - When it holds a C(current) link, the release directory is its target; otherwise O(root)
        itself is taken as a relx release directory.
    type: path
    required: true
  timeout_s:
    description:
      - Seconds to wait for the node's answer.
      - The old name O(timeout) is deprecated and will be removed in 1.0.0.
    type: int
    default: 30
    aliases: [timeout]
  drift_warnings:
    description:
      - Give a node whose running, permanent and bootable versions differ as Ansible warnings.
      - V(false) reports it in RV(warnings_text) only, for a caller that knows the state is expected,
        such as a probe between a hot upgrade's install and C(make_permanent).
    type: bool
    default: true
  node_user:
    description:
      - The user the node runs as, when the module runs as root. Its C(~/.erlang.cookie) is the one tried (after
        the release's own cookie sources), not root's.
      - Defaults to the user RV(identity) names. Run as another user than root, the module tries its own.
    type: str
  patched_modules:
    description:
      - Also ask the running node which loaded modules of its release differ from the release's own beams
        (a hot patch not written into the release, or code loaded by hand), into RV(patched_modules). It reads
        the md5 of every beam the node loaded from its tree, so it is off by default.
    type: bool
    default: false
  cluster:
    description:
      - Also ask the running node how it sees its distributed Erlang cluster, into RV(cluster) (the peers it is
        connected to and the release each runs, and with O(cluster_ready) each member's readiness).
    type: bool
    default: false
  cluster_peers:
    description:
      - With O(cluster), the node names the node should be connected to (the fleet's, or a list of your own);
        RV(cluster) names those it is not connected to (V(missing)). The node's own name may be in the list.
    type: list
    elements: str
    default: []
  cluster_ready:
    description:
      - With O(cluster), an application's own readiness check as Erlang text V({Module, Function, Args}), called on
        the node and on every connected peer; it must return V(true) (e.g. a quorum check of your own).
    type: str
  cluster_wait_s:
    description:
      - With O(cluster), seconds to ask again (every second) until the cluster is whole as the node sees it
        (connected to every peer of O(cluster_peers), and O(cluster_ready) true on every member), so a node that has
        just restarted gets this long to rejoin. The last view is returned either way, with the V(whole) of RV(cluster);
        V(0) asks once.
    type: int
    default: 0
  cluster_leaving:
    description:
      - With O(cluster), the node is about to leave (a deploy is going to drain or restart it), so its own answer to
        O(cluster_ready) does not count towards the V(whole) of RV(cluster), only those of the peers that stay.
    type: bool
    default: false
  interrupted_wait_s:
    description:
      - Seconds to wait for a node that does not answer while its deploy lock or drain mark says a run was
        interrupted there (a killed run may have left it restarting, and a restart goes on without the run).
        The node's answer once it is up is returned; V(0) does not wait.
    type: int
    default: 0
  deploying:
    description:
      - The version a deploy is about to send. With it, RV(kept_tarball) gives the SHA-256 of the tarball the node
        keeps for that version, which the P(beamops.deploy.release#module) action takes in its O(beamops.deploy.release#module:kept_sha256)
        instead of asking the node once more.
    type: str
  rollback_of:
    description:
      - A version to leave. With it, RV(rollback_plan) says where this node returns to (the fleet rollback's plan
        of one node), from what the module read, the node's history (C(previous), and where a hot upgrade came
        from), the record C(hot_upgrade) keeps, and the options below. It reads only.
    type: str
  rollback_method:
    description:
      - With O(rollback_of), V(cold) (switch and restart), V(hot) (release_handler), or V(auto) (V(hot) when the
        node reached O(rollback_of) by a hot upgrade, else V(cold)), or V(patch) (the code the node's newest
        hot patch still applied replaced, P(beamops.deploy.hot_patch#module) C(state=rolled_back); the version stays).
    type: str
    choices: [auto, cold, hot, patch]
    default: auto
  rollback_to:
    description: With O(rollback_of), the version to return to, named by the user (it wins over the history).
    type: str
    default: ''
  rollback_report_before:
    description:
      - With O(rollback_of), the version a deploy's report says this node ran before, used when its own history
        does not say.
    type: str
    default: ''
extends_documentation_fragment:
  - beamops.deploy.node
  - beamops.deploy.attributes
  - beamops.deploy.attributes.read_only
  - beamops.deploy.attributes.release_host
notes:
  - Run it as the user the release runs as (C(become_user)), who can read the release's cookie.
"""

EXAMPLES = r"""
- name: Read what runs on the node
  beamops.deploy.release_info:
    name: myapp
    root: /opt/myapp
  register: myapp_info

- name: Read a node whose cookie is kept outside the release
  beamops.deploy.release_info:
    name: myapp
    root: /opt/myapp
    cookie_file: /etc/myapp/cookie
  become: true
  become_user: myapp
  register: myapp_info

- name: Refuse to go on when a cold restart would boot another version
  ansible.builtin.assert:
    that: myapp_info.cold_restart_boots_running
    fail_msg: "{{ myapp_info.warnings_text }}"

- name: Where would this node return if 1.1.0 were rolled back
  beamops.deploy.release_info:
    name: myapp
    root: /opt/myapp
    rollback_of: "1.1.0"
  register: myapp_plan
"""

RETURN = r"""
installed:
  description: Versions unpacked under C(<root>/releases) by cold deploys (versioned layout only).
  returned: always
  type: list
  elements: str
  sample: ["1.0.0", "1.1.0"]
current:
  description: Version the C(current) link points at, or the start script's version for a plain release directory.
  returned: always
  type: str
  sample: "1.1.0"
previous:
  description: The version C(current) pointed at before the last switch (the rollback target), from C(<root>/.beamops/history.json).
  returned: always
  type: str
  sample: "1.0.0"
release_root:
  description: The release directory a cold start uses (the target of C(current)).
  returned: always
  type: str
  sample: /opt/myapp/releases/1.1.0
running_root:
  description: The release directory the running node was started from (V(null) when it is down).
  returned: always
  type: str
  sample: /opt/myapp/releases/1.0.0
start_script_version:
  description: Version written into C(bin/<name>), which a cold start boots.
  returned: always
  type: str
  sample: "1.1.0"
node:
  description: What the running node reports.
  returned: always
  type: dict
  contains:
    up:
      description: Whether the node answered.
      type: bool
    name:
      description: Node name.
      type: str
    cookie_source:
      description:
        - Where the cookie the node accepted came from (V(null) when it was not reached), never the
          cookie. V(cookie) and V(cookie_file) are the options; V(env_sh) is C(RELEASE_COOKIE) in
          C(releases/<vsn>/env.sh); V(release_cookie_file) is C(releases/COOKIE); V(vm_args) is
          C(-setcookie) in the release's C(vm.args); V(user_cookie_file) is C(~/.erlang.cookie).
      type: str
    unreachable_reason:
      description:
        - Why the node was not reached (V(null) when it was), naming the node and the cookie
          sources tried, and what epmd on its host answered.
      type: str
    releases:
      description:
        - Releases known to release_handler, newest first, with their name, version and status (V(permanent),
          V(current), V(old), V(unpacked)).
      type: list
      elements: dict
    running_version:
      description:
        - The release that runs (status V(current) if any, else V(permanent)); on a node without
          release_handler (no sasl), the release its boot script names.
      type: str
    rpc_errors:
      description:
        - The parts of the node's answer that failed, by what was asked (V(release_handler), V(application),
          V(init), ...), with the error the node gave; empty when every part answered.
      type: dict
    permanent_version:
      description: The release a restart of the VM boots.
      type: str
    os_pid:
      description: OS process id of the VM.
      type: str
    applications:
      description: Applications started on the node.
      type: list
      elements: str
  sample:
    up: true
    name: myapp@host1
    cookie_source: user_cookie_file
    unreachable_reason: null
    releases: [{name: myapp, version: "1.1.0", status: permanent}, {name: myapp, version: "1.0.0", status: old}]
    running_version: "1.1.0"
    permanent_version: "1.1.0"
    os_pid: "4242"
    applications: [myapp, sasl, stdlib, kernel]
    rpc_errors: {}
patches:
  description:
    - The hot patches kept under C(<root>/.beamops/patches/) (see P(beamops.deploy.hot_patch#module)), oldest first,
      each with its id, state (V(applied), V(rolled_back), V(failed), or V(dropped) when the node no longer runs it, as
      after a restart of a patch not written into the release), modules and whether it was written into the
      release (V(persisted)).
  returned: always
  type: list
  elements: dict
  sample: [{id: 20261207T120501-3fa2c1d0, state: applied, modules: [myapp_cache], persisted: false}]
patched_modules:
  description:
    - With O(patched_modules), the loaded modules whose code (md5, as C(beam_lib:md5)) differs from the beam the
      node loaded them from, each with the file and both md5s. Empty when the node runs its release's own code.
  returned: when O(patched_modules) is true and the node answered
  type: list
  elements: dict
  sample: [{module: myapp_cache, file: /opt/myapp/releases/1.4.2/lib/myapp-1.4.2/ebin/myapp_cache.beam,
            md5_loaded: 7d793037a0760186574b0282f2f435e7, md5_file: 5d41402abc4b2a76b9719d911017c592}]
cluster:
  description:
    - With O(cluster) and the node up, the cluster as the node sees it. V(connected) the peers it is connected to
      (visible nodes), V(members) the node and those peers, V(versions) the release each member runs, V(expected) and V(missing) from O(cluster_peers),
      V(ready) each member's answer to O(cluster_ready) (V(null) without it) and V(ready_failures) what those
      that did not answer V(true) said.
    - V(whole) is true when no expected peer is missing and the readiness check holds (on the peers only with
      O(cluster_leaving)); V(why) says what is not whole, naming the peers; V(waited_s) how long
      O(cluster_wait_s) waited.
  returned: when O(cluster) is true and the node answered
  type: dict
  sample: {node: myapp@web1, connected: [myapp@web2, myapp@web3], members: [myapp@web1, myapp@web2, myapp@web3],
           versions: {myapp@web1: "1.4.2", myapp@web2: "1.4.2", myapp@web3: "1.4.2"},
           expected: [myapp@web2, myapp@web3], missing: [], ready: {myapp@web1: true, myapp@web2: true,
           myapp@web3: true}, ready_failures: {}, whole: true, why: "", waited_s: 0.0}
cold_restart_boots_running:
  description: Whether a cold restart would boot the running version (V(null) when the node is down).
  returned: always
  type: bool
  sample: true
warnings_text:
  description: The disagreements found, as one sentence each (empty when there is none).
  returned: always
  type: str
  sample: ""
identity:
  description:
    - Who runs the release and how it is started. The record the P(beamops.deploy.node#role) role wrote in
      C(<root>/.beamops/node.json) (V(recorded) true), else the owner of O(root) with V(service_manager) V(auto).
  returned: always
  type: dict
  sample: {user: myapp, group: myapp, home: /home/myapp, service_manager: systemd, service_name: myapp,
           recorded: true}
deploy_lock:
  description:
    - The deploy lock of O(root) and the drain mark, as read now (read only; the
      P(beamops.deploy.deploy_lock#module) module takes and releases them). V(holder) is who holds the lock
      (V(null) when free, V({}) when its holder cannot be read), V(drained) the drain mark (V(null) for none).
    - V(readable) is false when this user cannot read C(<root>/.beamops); then the other keys say nothing.
  returned: always
  type: dict
  sample: {path: /opt/myapp/.beamops/deploy.lock, readable: true, holder: null, drained: null}
kept_tarball:
  description:
    - With O(deploying), the SHA-256 of the tarball the node keeps for that version (an empty string for none).
  returned: when O(deploying) is given
  type: str
  sample: ""
rollback_plan:
  description:
    - With O(rollback_of), where this node returns to. V(action) is V(rollback) or V(leave) (the node does not run
      that version), with V(target) (the version), V(method) (V(cold) or V(hot)), V(source) (what said so),
      V(reason) (why it is left alone), V(knows_bad) (whether the node runs or ever ran O(rollback_of)), and
      V(problem) (why it cannot be rolled back, with the option that fixes it; empty when it can).
  returned: with O(rollback_of)
  type: dict
  sample: {action: rollback, target: 1.0.0, method: cold, source: "the node's history", reason: "",
           knows_bad: true, problem: ""}
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import (
    _cluster,
    _deploy_lock,
    _fs,
    _node_state,
    _patch,
    _release,
)
from ansible_collections.beamops.deploy.plugins.module_utils._dist import node_argument_spec, seconds_option
from ansible_collections.beamops.deploy.plugins.module_utils._otp import Node, OtpError, ReleaseRoot


def installed_versions(root: str, name: str) -> list[str]:
    """Directories of releases/ holding a start script. ValueError, naming releases/ and the user,
    when it cannot be listed."""
    releases = os.path.join(root, "releases")
    if not os.path.islink(os.path.join(root, "current")) or not os.path.isdir(releases):
        return []
    entries = _release.list_releases(releases)
    return sorted(entry for entry in entries if os.path.isfile(os.path.join(releases, entry, "bin", name)))


def previous_version(root: str, warn=None) -> str | None:
    """The rollback target the release module recorded (.beamops/history.json); None when there is
    none or it cannot be read. A FIFO or device in its place is never read (``warn`` is told why)."""
    path = os.path.join(root, ".beamops", "history.json")
    try:
        return json.loads(_fs.read_text(path)).get("previous")
    except _fs.UnsafeFile as exc:
        if warn:
            warn(f"{exc} (previous is reported as null meanwhile)")
        return None
    except (OSError, ValueError, AttributeError):
        return None


def gather(module: AnsibleModule) -> dict:
    name, root = module.params["name"], module.params["root"]
    release = ReleaseRoot.locate(root, name)
    if not release.exists():
        module.fail_json(
            msg=f"release {name}: {release.missing()} under root {root}; check name and root, or deploy a release first"
        )
    try:
        installed = installed_versions(root, name)
    except ValueError as exc:
        module.fail_json(msg=f"release {name}: {exc}")
    identity = _node_state.read_identity(root, name)
    user = module.params["node_user"] or str(identity["user"])
    try:
        _node_state.as_node_user(user, None if module.params["node_user"] else identity.get("home"))
    except KeyError:
        module.fail_json(msg=f"Invalid node_user: no user {user} on this host.")
    current_link = os.path.join(root, "current")
    try:
        # A FIFO or device in place of bin/<name> or start_erl.data is refused (OtpError), never read.
        script_version = release.script_version()
        current = os.path.basename(os.readlink(current_link)) if os.path.islink(current_link) else script_version
        reach = Node(
            module,
            release,
            timeout=module.params["timeout_s"],
            cookie=module.params["cookie"],
            cookie_file=module.params["cookie_file"],
            node_name=module.params["node_name"],
        )
        node = reach.status()
    except OtpError as exc:
        module.fail_json(msg=f"release {name}: {exc}")
    lock = _deploy_lock.inspect(root)
    if not node["up"] and module.params["interrupted_wait_s"] > 0 and (lock["holder"] or lock["drained"]):
        try:
            waited = reach.wait_up(module.params["interrupted_wait_s"])
            node = waited if waited.get("up") and "running_version" in waited else reach.status()
        except OtpError as exc:
            module.fail_json(msg=f"release {name}: {exc}")
    node.pop("restart_marker", None)
    running_root = node.pop("root_dir", None)
    warnings = []
    boots_running = None
    if node["up"]:
        boots_running = script_version == node["running_version"]
        if not boots_running:
            warnings.append(
                f"node {node['name']} runs {node['running_version']} but {release.script} "
                f"would boot {script_version} on a cold restart"
            )
        if node["permanent_version"] and node["running_version"] != node["permanent_version"]:
            warnings.append(
                f"node {node['name']} runs {node['running_version']}, not yet permanent: "
                f"a VM restart boots {node['permanent_version']}"
            )
    if module.params["drift_warnings"]:
        for text in warnings:
            module.warn(text)
    result = {
        "changed": False,
        "installed": installed,
        "current": current,
        "previous": previous_version(root, module.warn),
        "release_root": release.path,
        "running_root": running_root,
        "start_script_version": script_version,
        "node": node,
        "cold_restart_boots_running": boots_running,
        "warnings_text": "; ".join(warnings),
        "identity": identity,
        "deploy_lock": lock,
        "patches": [
            {**{k: r.get(k) for k in ("id", "state", "persisted")}, "modules": sorted(r.get("modules", {}))}
            for r in _patch.read_records(_release.Layout(root, name))
        ],
    }
    p = module.params
    if p["cluster"] and node["up"]:
        result["cluster"] = cluster_view(module, reach, name, node["running_version"])
    if p["patched_modules"] and node["up"]:
        roots = sorted({root, os.path.realpath(root), release.path})
        answer = reach.call(
            _patch.patched_body(roots, int(module.params["timeout_s"] * 1000)), module.params["timeout_s"]
        )
        if isinstance(answer, tuple) and answer[:1] == ("beamops_patched_modules",):
            result["patched_modules"] = [
                {"module": str(m), "file": f, "md5_loaded": loaded, "md5_file": disk}
                for m, f, loaded, disk in answer[1]
            ]
        else:
            module.warn(f"node {node['name']} did not list its patched modules: {answer!s:.300}")
    if p["deploying"]:
        why = _release.validate_version(p["deploying"])
        if why:
            module.fail_json(msg=f"Invalid deploying: {why}")
        try:
            result["kept_tarball"] = _release.sha256_file(_release.Layout(root, name).tarball(p["deploying"]))
        except OSError:  # none kept (or not a regular file, or not readable here): the release action asks
            result["kept_tarball"] = ""
    if p["rollback_of"]:
        result["rollback_plan"] = _node_state.rollback_plan(
            root, result, p["rollback_of"], p["rollback_method"], p["rollback_to"], p["rollback_report_before"]
        )
    return result


def cluster_view(module, reach, name: str, own_version: str) -> dict:
    """The cluster as the node sees it, asked again every second until it is whole or cluster_wait_s ran out;
    versions holds the node's own release too (own_version, as it answered the status question)."""
    p = module.params
    body = _cluster.cluster_body(p["cluster_ready"], int(p["timeout_s"] * 1000))
    start = time.monotonic()
    while True:
        answer = reach.call(body, p["timeout_s"])
        try:
            view = _cluster.judge(_cluster.parse_cluster(answer, p["cluster_peers"]), p["cluster_leaving"])
        except ValueError as exc:
            module.fail_json(msg=f"release {name}: {exc}")
        waited = time.monotonic() - start
        if view["whole"] or waited + 1 > p["cluster_wait_s"]:
            versions = {view["node"]: own_version, **view["versions"]}
            return {**view, "versions": versions, "waited_s": round(waited, 2)}
        time.sleep(1)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "root": {"type": "path", "required": True},
            "timeout_s": seconds_option("timeout", "int", 30),
            "drift_warnings": {"type": "bool", "default": True},
            "node_user": {"type": "str"},
            "deploying": {"type": "str"},
            "interrupted_wait_s": {"type": "int", "default": 0},
            "patched_modules": {"type": "bool", "default": False},
            "cluster": {"type": "bool", "default": False},
            "cluster_peers": {"type": "list", "elements": "str", "default": []},
            "cluster_ready": {"type": "str"},
            "cluster_wait_s": {"type": "int", "default": 0},
            "cluster_leaving": {"type": "bool", "default": False},
            "rollback_of": {"type": "str"},
            "rollback_method": {"type": "str", "default": "auto", "choices": ["auto", "cold", "hot", "patch"]},
            "rollback_to": {"type": "str", "default": ""},
            "rollback_report_before": {"type": "str", "default": ""},
            **node_argument_spec(),
        },
        supports_check_mode=True,
    )
    module.exit_json(**gather(module))


if __name__ == "__main__":
    main()
