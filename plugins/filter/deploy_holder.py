# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: deploy_holder
short_description: Who this ansible-playbook run is, or whether a deploy lock's holder still runs
version_added: 0.1.0
description:
  - Without O(holder), returns the identity of the running C(ansible-playbook) on the control node,
    as the strategy roles write it into a node's deploy lock (C(<root>/.beamops/deploy.lock)), namely
    C(user), C(controller) (host name), C(pid) and C(started) (the process start time, seconds since
    the epoch, so that a reused pid is not taken for the same run), and C(version) from the input.
  - With O(holder) (the identity read from a lock), returns V(ours) when it is this very run,
    V(stale) when it was a run of this same controller host whose process is gone (no such pid, or a
    pid started at another time), and V(held) otherwise (a live run, or a run of another controller,
    whose process cannot be checked from here). A run is of this same controller only when its
    C(controller_id) is this one's; the same host name alone is not enough, since the process table
    read here is not the other controller's.
positional: _input
options:
  _input:
    description: The version being deployed (recorded in the identity).
    type: str
    required: true
  holder:
    description: An identity read from a lock, to judge against this run.
    type: dict
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: This run's identity
  ansible.builtin.set_fact:
    deploy_me: "{{ '1.1.0' | beamops.deploy.deploy_holder }}"

- name: Whether the lock found on a node can be taken over
  ansible.builtin.debug:
    msg: "{{ '1.1.0' | beamops.deploy.deploy_holder(holder=found_holder) }}"
"""

RETURN = r"""
_value:
  description: The identity (a dict), or with O(holder) one of V(ours), V(stale), V(held).
  type: raw
"""

import getpass
import os
import socket

from ansible.errors import AnsibleFilterError

_TOLERANCE = 2.0  # seconds: start times are computed from clock ticks and the boot time


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _started(pid: int) -> float | None:
    """Start time of a process, seconds since the epoch (Linux /proc); None when unknown or gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    try:
        with open("/proc/stat", encoding="utf-8") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime "))
        return round(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), 1)
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _run_pid() -> int:
    """The ansible-playbook process: Ansible's workers are forks of it (same command line), so the
    topmost ancestor with this process's command line."""
    pid = os.getpid()
    mine = _cmdline(pid)
    while True:
        fields = _stat_fields(pid)
        parent = int(fields[1]) if fields else 0
        if parent <= 1 or mine is None or _cmdline(parent) != mine:
            return pid
        pid = parent


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


def _controller_id(host: str) -> str:
    """Where this process's pids mean something: the host name, this boot of the kernel, and the pid
    namespace (a container has its own). Two controllers that share all three share a process table."""
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pid_ns = "?"
    return f"{host}/{_read('/proc/sys/kernel/random/boot_id')}/{pid_ns}"


def _me(version: str) -> dict:
    pid = _run_pid()
    host = socket.gethostname()
    return {
        "user": getpass.getuser(),
        "controller": host,
        "controller_id": _controller_id(host),
        "pid": pid,
        "started": _started(pid),
        "version": version,
    }


def _verdict(me: dict, holder: dict) -> str:
    try:
        pid = int(holder.get("pid"))
        started = holder.get("started")
        started = None if started is None else float(started)
    except (TypeError, ValueError):
        return "held"  # unreadable: never taken over by itself
    if holder.get("controller_id") != me["controller_id"]:
        return "held"  # another controller (maybe with the same host name): its process is not ours to check
    if pid == me["pid"] and started is not None and me["started"] is not None:
        if abs(started - me["started"]) <= _TOLERANCE:
            return "ours"
    alive = _started(pid)
    if alive is None and not os.path.exists(f"/proc/{pid}"):
        return "stale"
    if started is not None and alive is not None and abs(alive - started) > _TOLERANCE:
        return "stale"  # the pid now belongs to another process
    return "held"


def deploy_holder(version, holder=None):
    if not isinstance(version, str):
        raise AnsibleFilterError("deploy_holder: the input must be the version being deployed (a string)")
    me = _me(version)
    if holder is None:
        return me
    if not isinstance(holder, dict):
        raise AnsibleFilterError(f"deploy_holder: holder must be a dict, got {type(holder).__name__}")
    return _verdict(me, holder)


class FilterModule:
    def filters(self):
        return {"deploy_holder": deploy_holder}
