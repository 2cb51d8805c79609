# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counts, per inventory host and play, the calls that leave the control node (the bench's calls_per_node).

A call is one module run on a host other than the control node: a task's result, or each item of a
loop (a load balancer loop makes one call per load balancer). A task delegated to a load balancer
counts for the host it runs for. Tasks the control node does alone (set_fact, assert, debug, include,
report_file, ...) and tasks run on localhost do not count. The release action makes two calls when it
is given a tarball and not the kept copy's SHA-256 (kept_sha256, which release_info reads): a stat of the
copy the node keeps, then the module. It counts two then, else one.

Enabled by the bench with ANSIBLE_CALLBACKS_ENABLED=beamops_calls; writes JSON to $BEAMOPS_CALLS_FILE:
{"<play name>": {"<host>": {"calls": n, "tasks": {"<task name>": n}}}}.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: beamops_calls
type: aggregate
short_description: counts the calls that leave the control node, per host and play (benchmarks only)
description: See the module docstring.
requirements: [BEAMOPS_CALLS_FILE in the environment]
"""

# Actions that run on the control node only.
CONTROLLER_ONLY = {
    "add_host",
    "assert",
    "debug",
    "fail",
    "group_by",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "pause",
    "report_file",
    "set_fact",
    "set_stats",
    "validate_argument_spec",  # a role's argument spec, checked on the control node
}
LOCAL = {"localhost", "127.0.0.1"}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "beamops_calls"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.play = "?"
        self.counts: dict = {}

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name().strip() or "?"

    def _count(self, result, item: bool) -> None:
        task = result._task
        action = (getattr(task, "resolved_action", None) or task.action or "").rsplit(".", 1)[-1]
        if action in CONTROLLER_ONLY:
            return
        if task.loop is not None and not item:
            return  # counted per item
        host = result._host.get_name()
        delegated = (result._result.get("_ansible_delegated_vars") or {}).get("ansible_delegated_host")
        runs_on = delegated or host
        if runs_on in LOCAL or (task.delegate_to or "") in LOCAL:
            return
        args = task.args or {}  # as templated for this host: an omitted kept_sha256 is not there
        calls = 2 if action == "release" and args.get("src") and "kept_sha256" not in args else 1
        entry = self.counts.setdefault(self.play, {}).setdefault(host, {"calls": 0, "tasks": {}})
        entry["calls"] += calls
        name = task.get_name()
        entry["tasks"][name] = entry["tasks"].get(name, 0) + calls

    def v2_runner_on_ok(self, result):
        self._count(result, item=False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result, item=False)

    def v2_runner_item_on_ok(self, result):
        self._count(result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._count(result, item=True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BEAMOPS_CALLS_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.counts, handle, indent=1, sort_keys=True)
