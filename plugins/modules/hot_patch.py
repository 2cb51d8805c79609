#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hot_patch
short_description: Load changed modules into a running BEAM node without a relup, or roll them back
version_added: 0.1.0
description:
  - Loads compiled modules (C(.beam) files) into the running node of a release, with no relup, no
    restart and the process state kept. The modules are O(beams), or the modules of O(tarball) (a release
    tarball of the version the node runs) whose code differs from the code the node runs.
  - Refuses before any change, naming the module and the fix, when a module is not one the node has
    (a new module needs a release), when its old code is still run by a process (loading would make
    C(code:purge) kill it; the processes are named), when the node's loader refuses the beam, when
    the beam was compiled by another OTP release series than the code it replaces (O(check_compiler)),
    when a process of O(processes) is not registered or its O(processes[].extra) is not an Erlang term,
    and when the code the node runs cannot be kept for a rollback (neither the release's own beam nor a
    patch kept before).
  - "Then, in one question to the node: the processes of O(processes) are suspended (C(sys:suspend)),
    every module is loaded at once (all or none), each process's C(code_change) is called with the vsn
    of the code it leaves and O(processes[].extra) (C(sys:change_code)), and every process is resumed."
  - A C(code_change) that fails (crashes or answers an error) undoes the patch on the node before the
    processes are resumed. The processes changed before are changed back (their C(code_change) gets
    V({down, Vsn})), the code that ran before is loaded back, and the process whose C(code_change) failed
    keeps its state untouched. The task then fails with RV(restored=true).
  - The patch's own code changes the state both ways, since the code it replaces knows nothing of it. Up, its
    C(code_change) gets the vsn of the code it replaces (C(-vsn), as in a relup); down, in a rollback, it gets
    V({down, Vsn}) of the code returned to, and is called before that code is loaded back.
  - What a patch replaced is kept under C(<root>/.beamops/patches/<id>/) with a record of it, so that
    O(state=rolled_back) loads the code back the same way (suspend, load, C(code_change) with
    V({down, Vsn}), resume). The last 20 records are kept. A record whose code the node no longer runs (a restart
    dropped a patch not written into the release) is marked V(dropped) by the next run, so that a rollback
    returns the patch the node does run.
  - A patch lives in the running VM only. A restart loads the release's own beams again and drops it,
    unless O(persist=true), which writes the new beams over the release's own (atomically, each beside
    the file it replaces, its mode and owner kept) and records the patch in the deploy history.
  - Run again with the same beams, a node that runs them already is left as it is.
author:
  - beamops.deploy contributors (@beamops)
options:
  state:
    description:
      - V(patched) loads the new code; V(rolled_back) loads back what the newest patch still applied on the
        node replaced (and restores the release's files when that patch was persisted).
    type: str
    choices: [patched, rolled_back]
    default: patched
  beams:
    description:
      - Paths of the compiled modules to load, on the node's host, readable by the node's user.
      - Each must hold a module the node has; two beams of one module are refused.
    type: list
    elements: path
  tarball:
    description:
      - A release tarball (on the node's host) built for the version the node runs. Its beams
        (C(lib/<app>-<vsn>/ebin/*.beam)) that differ from the release's files are compared with the code the
        node runs; the modules whose code differs are the patch.
      - Mutually exclusive with O(beams). By default, with O(version), the rebuild that
        M(beamops.deploy.release) with C(state=patch) placed for that version.
    type: path
  version:
    description:
      - The version the patch is built for. The node must run it, else the patch is refused before any change.
      - Without O(beams) or O(tarball), the patch is the rebuild placed by M(beamops.deploy.release) with
        C(state=patch) (C(<root>/.beamops/patches/<name>-<version>.tar.gz)).
    type: str
  processes:
    description:
      - The processes whose state changes shape with the patch (C(gen_server), C(gen_statem) or any process
        of the C(sys) protocol), by registered name. They are suspended around the load and their
        C(code_change) is called. Other processes pick the new code at their next external call.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Registered name of the process.
        type: str
        required: true
      module:
        description:
          - The callback module whose C(code_change) is called.
          - By default the module of the patch named like the process (a process registered under its module's
            name), else the one module of the patch; required when neither tells.
        type: str
      extra:
        description: The C(Extra) term given to C(code_change), as Erlang text (V([]), V({add_field, 0})).
        type: str
        default: "[]"
  persist:
    description:
      - Also write the new beams over the release's own files, so that a restart still runs the patch.
      - V(false) leaves the release's files as they are; the result's RV(survives_restart) says so.
    type: bool
    default: false
  check_compiler:
    description:
      - Refuse a beam compiled by another compiler series (major.minor, one OTP release) than the code it
        replaces, or than the node's own compiler application when that code does not say.
      - V(false) only relies on the node's loader, which refuses what it cannot load, not code compiled
        against another OTP's libraries.
    type: bool
    default: true
  timeout_s:
    description: Seconds each step on the node (a suspension, a C(code_change), a resumption, the load) may take.
    type: int
    default: 30
  lock_timeout_s:
    description: Seconds to wait for the release root's deploy lock (held by a deploy in progress).
    type: int
    default: 300
extends_documentation_fragment:
  - beamops.deploy.node
  - beamops.deploy.node.release_root
  - beamops.deploy.attributes
  - beamops.deploy.attributes.release_host
attributes:
  check_mode:
    support: full
    details: Asks the node what it runs and reports the modules that would be loaded and every refusal.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Modules the node runs already are not loaded again; a persisted file equal to the beam is not written.
notes:
  - Run it as the user the release runs as (C(become_user)). The node reads the beams itself, and the
    kept records are written under the root.
  - Old code still run by a process blocks a patch until that process leaves it (a process that loops in a
    module through local calls never does); restart such a node rather than patching it.
"""

EXAMPLES = r"""
- name: Load two fixed modules into the running node
  beamops.deploy.hot_patch:
    name: myapp
    root: /opt/myapp
    beams:
      - /tmp/patch/myapp_http.beam
      - /tmp/patch/myapp_cache.beam

- name: Load a fix whose gen_server state gains a field, and keep it across restarts
  beamops.deploy.hot_patch:
    name: myapp
    root: /opt/myapp
    beams: [/tmp/patch/myapp_cache.beam]
    processes:
      - name: myapp_cache
        extra: "{add_field, hits, 0}"
    persist: true

- name: Load what a rebuilt tarball of the running version changed
  beamops.deploy.hot_patch:
    name: myapp
    root: /opt/myapp
    tarball: /tmp/myapp-1.4.2.tar.gz

- name: Load back what the newest patch replaced
  beamops.deploy.hot_patch:
    name: myapp
    root: /opt/myapp
    state: rolled_back
"""

RETURN = r"""
patch_id:
  description: The id of the patch record (under C(<root>/.beamops/patches/)); empty when nothing was loaded.
  returned: always
  type: str
  sample: 20261207T120501-3fa2c1d0
modules:
  description: Per module of the patch, what the node ran before and runs after (md5 of the code, as C(beam_lib:md5)).
  returned: always
  type: list
  elements: dict
  sample:
    - module: myapp_cache
      file: /opt/myapp/releases/1.4.2/lib/myapp-1.4.2/ebin/myapp_cache.beam
      md5_before: 5d41402abc4b2a76b9719d911017c592
      md5_after: 7d793037a0760186574b0282f2f435e7
      loaded: true
      written: false
processes:
  description: Per process of O(processes), the result of its C(code_change) (V(ok) or the error).
  returned: always
  type: list
  elements: dict
  sample: [{name: myapp_cache, pid: "<0.312.0>", result: ok}]
persisted:
  description: Whether the release's files were written with the new code (by this run or the patch rolled back).
  returned: always
  type: bool
survives_restart:
  description: Whether a restart of the node runs the code it runs now.
  returned: always
  type: bool
restored:
  description: A C(code_change) failed and the code that ran before was loaded back (the task failed).
  returned: always
  type: bool
os_pid:
  description: The node's OS process id, unchanged by a patch.
  returned: when the node answered
  type: str
message:
  description: What was done, for a report.
  returned: always
  type: str
"""

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _patch, _release, _tar
from ansible_collections.beamops.deploy.plugins.module_utils._dist import node_argument_spec
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import Atom
from ansible_collections.beamops.deploy.plugins.module_utils._otp import NODEDOWN, OtpError, release_node


class Refused(Exception):
    """A patch refused before anything changed."""


class HotPatch:
    """One patch or rollback of the running node; a context manager that removes its temporary directory."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.p = module.params
        self.layout = _release.Layout(self.p["root"], self.p["name"])
        try:
            self.release, self.node = release_node(module, self.p)
        except OtpError as exc:
            raise Refused(str(exc)) from exc
        self.ms = max(1000, self.p["timeout_s"] * 1000)
        self.result: dict = {
            "changed": False,
            "patch_id": "",
            "modules": [],
            "processes": [],
            "persisted": False,
            "survives_restart": True,
            "restored": False,
            "message": "",
        }
        self.tmp = tempfile.mkdtemp(prefix="beamops-patch-")

    def __enter__(self) -> HotPatch:
        return self

    def __exit__(self, *exc_info) -> None:
        """The private directory of a tarball's beams goes with the patch, whatever its outcome."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ask(self, body: str):
        answer = self.node.call(body, self.p["timeout_s"])
        if answer == NODEDOWN:
            raise Refused(f"the node cannot be reached: {self.node.unreachable_reason}")
        if isinstance(answer, tuple) and answer[:1] == ("badrpc",):
            raise Refused(f"node {self.node.name} could not answer ({answer[1]!s:.400})")
        if isinstance(answer, tuple) and answer[:1] == ("beamops_patch",):
            _tag, what, where, why = answer
            if what == "cannot_read":
                raise Refused(
                    f"node {self.node.name} cannot read {where} ({why}): run the task as the node's user "
                    "(become_user) and give beams that user can read"
                )
            raise Refused(f"{what} {where} {why}".strip())
        return answer

    # --- what to load --------------------------------------------------------------------------
    def given_beams(self) -> dict[str, str]:
        if self.p["beams"]:
            return _patch.read_beams(self.p["beams"], "beams")
        if not self.p["tarball"]:
            self.p["tarball"] = self.layout.patch_tarball(self.p["version"])
            if not os.path.isfile(self.p["tarball"]):
                raise Refused(
                    f"no rebuild of {self.p['version']} is placed at {self.p['tarball']}: send it with "
                    "beamops.deploy.release state=patch, or give beams or tarball"
                )
        return self.tarball_beams()

    def tarball_beams(self) -> dict[str, str]:
        """The tarball's beams whose bytes differ from the release's file of the same name, written to a
        private temporary directory the node reads."""
        path = self.p["tarball"]
        try:
            # One read of the archive: the beams of lib/<app>-<vsn>/ebin.
            contents = _tar.read_archive(path, lambda name: name.startswith("lib/") and name.endswith(".beam"))[1]
        except _tar.ArchiveError as exc:
            raise Refused(f"tarball: {exc}: give a release tarball of the version the node runs") from None
        found: dict[str, str] = {}
        for member in sorted(contents):
            data = contents[member]
            try:
                own = _release.open_regular(os.path.join(self.release.path, member))
                with own:
                    same = own.read() == data
            except OSError:
                same = False
            if same:
                continue
            try:
                module = _patch.beam_module(data)
            except ValueError as exc:
                raise Refused(f"tarball: {member} cannot be used ({exc})") from None
            local = os.path.join(self.tmp, f"{module}.beam")
            with open(local, "wb") as handle:
                handle.write(data)
            found[module] = local
        return found

    def processes(self, modules: dict[str, str]) -> list[dict]:
        procs = []
        for entry in self.p["processes"]:
            module = entry["module"] or (entry["name"] if entry["name"] in modules else None)
            if not module:
                if len(modules) != 1:
                    raise Refused(
                        f"processes: {entry['name']} has no module and the patch has {len(modules)} modules "
                        f"({', '.join(sorted(modules)) or 'none'}): give the callback module with processes[].module"
                    )
                module = next(iter(modules))
            problem = _patch.module_name_problem(module)
            if problem:
                raise Refused(f"processes: module of {entry['name']} {problem}")
            procs.append({"name": entry["name"], "module": module, "extra": entry["extra"]})
        return procs

    def inspect(self, modules: dict[str, str], procs: list[dict]) -> tuple[dict, dict]:
        answer = self.ask(_patch.inspect_body(modules, procs, self.ms))
        _tag, os_pid, otp, compiler_lib, mod_infos, proc_infos = answer
        self.result["os_pid"] = str(os_pid)
        facts = {"otp": str(otp), "compiler": compiler_lib.partition("-")[2] if compiler_lib else ""}
        keys = (
            "module", "file", "loaded", "md5_before", "md5_disk", "new_module", "md5_after",
            "compiler_before", "compiler_after", "old_code_users", "loadable",
        )  # fmt: skip
        infos = {str(i[0]): dict(zip(keys, i)) for i in mod_infos}
        for info in infos.values():
            info["module"] = str(info["module"])
            info["new_module"] = str(info["new_module"])
        facts["processes"] = [
            {"name": str(n), "pid": "" if isinstance(pid, Atom) else str(pid), "check": check}  # undefined: none
            for n, pid, check in proc_infos
        ]
        return infos, facts

    def refusals(
        self, infos: dict, facts: dict, procs: list[dict], loading: list[str], writing: list[str]
    ) -> list[str]:
        """Why the patch cannot be made, for the modules it loads or writes (one the node runs already is
        left alone, whatever its old code)."""
        why = []
        root = os.path.realpath(self.p["root"])
        for module, info in infos.items():
            if module not in loading and module not in writing:
                continue
            if info["new_module"] != module:
                why.append(f"{module}: the beam is not loadable code of {module} ({info['md5_after']})")
                continue
            if not info["file"].startswith("/") and not info["loaded"]:
                why.append(f"{module}: the node has no module {module} ({info['file']}): a new module needs a release")
                continue
            if info["old_code_users"] and module in loading:
                why.append(
                    f"{module}: old code of {module} is still run by {', '.join(info['old_code_users'])}, which "
                    "loading would kill: retry when they have left it, or restart the node"
                )
            if info["loadable"] != "ok":
                why.append(f"{module}: the node's loader refuses the beam ({info['loadable']})")
            reference = info["compiler_before"] or facts["compiler"]
            new = info["compiler_after"]
            if (
                self.p["check_compiler"]
                and reference
                and new
                and _patch.compiler_series(new) != _patch.compiler_series(reference)
            ):
                why.append(
                    f"{module}: compiled by compiler {new}, another OTP release series than the node's code "
                    f"(compiler {reference}, OTP {facts['otp']}): build the patch with the node's OTP, or set "
                    "check_compiler=false"
                )
            if module in writing and not os.path.realpath(info["file"]).startswith(root + os.sep):
                why.append(
                    f"{module}: persist=true, but the node loads {module} from {info['file']}, outside root {root}"
                )
        changing = {p["name"] for p in procs if p["module"] in loading}
        for proc in facts["processes"]:
            if not proc["pid"] and proc["name"] in changing:
                why.append(f"processes: no process is registered as {proc['name']} on node {self.node.name}")
            if proc["check"] != "ok":
                why.append(f"processes: extra of {proc['name']} is not an Erlang term ({proc['check']})")
        for proc in procs:
            if proc["module"] not in infos:
                why.append(f"processes: module {proc['module']} of {proc['name']} is not in the patch")
        return why

    def current_code(self, module: str, info: dict) -> str | None:
        """A file holding the code the node runs of ``module`` now: the release's own beam, or a kept one."""
        if not info["loaded"] or info["md5_before"] == info["md5_disk"]:
            return info["file"]
        kept = _patch.kept_beam(self.layout, info["md5_before"])
        return kept[1] if kept else None

    # --- state=patched --------------------------------------------------------------------------
    def check_version(self) -> None:
        """Refuse a patch built for another version than the one the node runs."""
        wanted = self.p["version"]
        if not wanted:
            return
        state = self.node.status()
        if not state["up"]:
            raise Refused(f"the node cannot be reached: {self.node.unreachable_reason}")
        running = state["running_version"]
        self.result["version"] = running
        if running != wanted:
            raise Refused(
                f"node {self.node.name} runs {running}, and the patch is built for {wanted}: deploy {wanted} first, "
                f"or rebuild the patch from {running}; nothing was changed"
            )

    def patch(self) -> None:
        self.check_version()
        modules = self.given_beams()
        procs = self.processes(modules)
        if not modules:
            self.result["message"] = "the tarball holds no module that differs from the release's own"
            return
        infos, facts = self.inspect(modules, procs)
        persist = self.p["persist"]
        loading = [m for m, i in infos.items() if i["md5_before"] != i["md5_after"] or not i["loaded"]]
        writing = [m for m, i in infos.items() if persist and i["md5_disk"] != i["md5_after"]]
        refused = self.refusals(infos, facts, procs, loading, writing)
        sources = {}
        for module in loading:
            sources[module] = self.current_code(module, infos[module])
            if sources[module] is None:
                refused.append(
                    f"{module}: the node runs code of it (md5 {infos[module]['md5_before']}) that is neither the "
                    "release's beam nor a kept patch, so a rollback could not load it back: restart the node first"
                )
        self.result["modules"] = summary(infos, loading, writing)
        if refused:
            raise Refused("refused before any change: " + "; ".join(refused))
        changing = [p for p in procs if p["module"] in loading]
        self.result["survives_restart"] = persist or all(i["md5_disk"] == i["md5_after"] for i in infos.values())
        if not loading and not writing:
            self.result["message"] = f"node {self.node.name} runs every module of the patch already"
            return
        self.result["changed"] = True
        if self.module.check_mode:
            self.result["message"] = f"would load {', '.join(loading) or 'nothing'} into node {self.node.name}" + (
                f" and write {', '.join(writing)} into the release" if writing else ""
            )
            return
        with self.locked():
            patch_id = _patch.new_id(modules)
            record = {
                "format": _patch.PATCH_FORMAT,
                "id": patch_id,
                "at": time.time(),
                "state": "loading",
                "node": self.node.name,
                "persisted": False,
                "modules": {
                    m: {
                        "file": infos[m]["file"],
                        "md5_before": infos[m]["md5_before"],
                        "md5_after": infos[m]["md5_after"],
                        # Written only (the node ran it already): a rollback restores the file, not the code.
                        "loaded": m in loading,
                    }
                    for m in sorted(set(loading) | set(writing))
                },
                "processes": changing,
            }
            for module in record["modules"]:
                new = _patch.beam_path(self.layout, patch_id, "new", module)
                old = _patch.beam_path(self.layout, patch_id, "old", module)
                _release.copy_atomic(modules[module], new, 0o644)
                _release.copy_atomic(sources.get(module) or infos[module]["file"], old, 0o644)
            _patch.write_record(self.layout, record)
            self.result["patch_id"] = patch_id
            if loading:
                steps = [
                    (
                        m,
                        infos[m]["file"],
                        _patch.beam_path(self.layout, patch_id, "new", m),
                        _patch.beam_path(self.layout, patch_id, "old", m),
                    )
                    for m in loading
                ]
                self.load(steps, changing, "up", record)
            if writing:
                self.write_files(record, "new")
            self.finish(record, "applied", infos, loading)
        self.result["message"] = (
            f"loaded {', '.join(loading) or 'nothing'} into node {self.node.name}"
            + (f", {len(changing)} process(es) changed" if changing else "")
            + ("; written into the release, a restart keeps it" if persist else "")
            + ("" if self.result["survives_restart"] else "; a restart loads the release's own code again")
        )

    def load(self, steps: list, procs: list[dict], direction: str, record: dict) -> None:
        try:
            answer = self.ask(_patch.apply_body(steps, procs, direction, self.ms))
        except Refused:
            record["state"] = "failed"
            _patch.write_record(self.layout, record)
            raise
        tag = str(answer[0]) if isinstance(answer, tuple) and answer else ""
        if tag == "beamops_patched":
            self.result["processes"] = [{"name": p["name"], "module": p["module"], "result": "ok"} for p in procs]
            return
        record["state"] = "failed"
        _patch.write_record(self.layout, record)
        if tag == "beamops_patch_not_loaded":
            raise Refused(f"node {self.node.name} did not load the patch ({answer[1]}); nothing changed")
        if tag == "beamops_patch_restored":
            _tag, name, why, reload, undone = answer
            self.result["restored"] = True
            self.result["changed"] = False
            outcome = {str(u[0]): f"changed back: {u[1]}" for u in undone}
            outcome[str(name)] = f"failed: {why}"
            self.result["processes"] = [
                {"name": p["name"], "module": p["module"], "result": outcome.get(p["name"], "not changed")}
                for p in procs
            ]
            back = {
                "ok": "the code that ran before was loaded back",
                "unchanged": "the code it ran stays loaded",
            }.get(str(reload), f"loading the code back failed ({reload})")
            raise Refused(
                f"code_change of {name} failed ({why}): {back}, the processes changed before were changed back "
                f"({', '.join(f'{u[0]}: {u[1]}' for u in undone) or 'none'}) and every process was resumed"
            )
        raise Refused(f"node {self.node.name} answered the load with {answer!s:.400}")

    def write_files(self, record: dict, which: str) -> None:
        """Write the record's ``which`` beams (new or old) over the release's files, each file's mode and owner kept."""
        for module, entry in record["modules"].items():
            target = os.path.realpath(entry["file"])
            st = os.stat(target)
            _release.copy_atomic(
                _patch.beam_path(self.layout, record["id"], which, module),
                target,
                st.st_mode & 0o7777,
                st.st_uid,
                st.st_gid,
            )
        record["persisted"] = which == "new"
        self.result["persisted"] = True
        history = _release.read_history(self.layout)
        _release.record_event(
            history,
            "patched" if which == "new" else "patch_rolled_back",
            id=record["id"],
            modules=sorted(record["modules"]),
        )
        _release.write_history(self.layout, history)

    def finish(self, record: dict, state: str, infos: dict, loading: list[str]) -> None:
        """Write the record's new state; mark dropped the records the node no longer runs; prune old ones."""
        record["state"] = state
        _patch.write_record(self.layout, record)
        runs = {m: (i["md5_after"] if m in loading else i["md5_before"]) for m, i in infos.items()}
        _patch.settle_records(self.layout, runs)
        _patch.prune_records(self.layout)

    def locked(self):
        os.makedirs(self.layout.state, mode=0o700, exist_ok=True)
        return _release.locked(self.layout, self.p["lock_timeout_s"])

    # --- state=rolled_back ----------------------------------------------------------------------
    def rollback(self) -> None:
        applied = [r for r in _patch.read_records(self.layout) if r.get("state") == "applied"]
        if not applied:
            self.result["message"] = "no patch is applied under this root: nothing to roll back"
            return
        record = applied[-1]
        self.result["patch_id"] = record["id"]
        old = {
            m: _patch.beam_path(self.layout, record["id"], "old", m)
            for m, entry in record["modules"].items()
            if entry.get("loaded", True)
        }
        procs = record.get("processes", [])
        infos, facts = self.inspect(old, procs)
        refused = []
        loading = [m for m, i in infos.items() if i["md5_before"] != i["md5_after"]]
        for module in loading:
            info = infos[module]
            if info["old_code_users"]:
                refused.append(f"{module}: old code still run by {', '.join(info['old_code_users'])}")
            if info["md5_before"] != record["modules"][module]["md5_after"]:
                refused.append(
                    f"{module}: the node runs code (md5 {info['md5_before']}) that is neither the patch's nor what it replaced"
                )
        changing = [p for p in procs if p["module"] in loading]
        for proc in facts["processes"]:
            if not proc["pid"] and proc["name"] in [p["name"] for p in changing]:
                refused.append(f"processes: no process is registered as {proc['name']}")
        if refused:
            raise Refused("rollback refused before any change: " + "; ".join(refused))
        writing = record.get("persisted", False)
        self.result["modules"] = summary(infos, loading, list(infos) if writing else [])
        self.result["changed"] = bool(loading) or writing
        if self.module.check_mode:
            self.result["message"] = f"would load back {', '.join(loading) or 'nothing'} (patch {record['id']})"
            return
        with self.locked():
            if loading:
                steps = [
                    (m, infos[m]["file"], old[m], _patch.beam_path(self.layout, record["id"], "new", m))
                    for m in loading
                ]
                self.load(steps, changing, "down", dict(record))
            if writing:
                self.write_files(record, "old")
            self.finish(record, "rolled_back", infos, loading)
        self.result["message"] = (
            f"loaded back the code patch {record['id']} replaced ({', '.join(loading) or 'nothing'})"
        )


def summary(infos: dict, loading: list[str], writing: list[str]) -> list[dict]:
    """RV(modules): per module, the code before and after, and whether it is loaded and written."""
    keys = ("file", "md5_before", "md5_after")
    return [
        {"module": m, **{k: i[k] for k in keys}, "loaded": m in loading, "written": m in writing}
        for m, i in sorted(infos.items())
    ]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "root": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["patched", "rolled_back"], "default": "patched"},
            "beams": {"type": "list", "elements": "path"},
            "tarball": {"type": "path"},
            "version": {"type": "str"},
            "processes": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "module": {"type": "str"},
                    "extra": {"type": "str", "default": "[]"},
                },
            },
            "persist": {"type": "bool", "default": False},
            "check_compiler": {"type": "bool", "default": True},
            "timeout_s": {"type": "int", "default": 30},
            "lock_timeout_s": {"type": "int", "default": 300},
            **node_argument_spec(),
        },
        mutually_exclusive=[("beams", "tarball")],
        required_if=[("state", "patched", ("beams", "tarball", "version"), True)],
        supports_check_mode=True,
    )
    name = module.params["name"]
    why = _release.validate_name(name) or (
        _release.validate_version(module.params["version"]) if module.params["version"] is not None else None
    )
    if why:
        module.fail_json(
            msg=f"name {name!r} or version is refused: {why}. Give the release's name (bin/<name>) and a version "
            "as in releases/<version>; nothing was done"
        )
    patch = None
    try:
        with HotPatch(module) as patch:
            if module.params["state"] == "patched":
                patch.patch()
            else:
                patch.rollback()
    except (Refused, _patch.PatchError, OtpError, OSError, ValueError) as exc:
        module.fail_json(msg=f"release {name}: {exc}", **(patch.result if patch else {}))
    module.exit_json(**patch.result)


if __name__ == "__main__":
    main()
