# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy_holder filter: this run's identity, and whether a deploy lock's holder may be taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.deploy_holder import FilterModule, deploy_holder

CHILD = """
import json, sys, time
from ansible_collections.beamops.deploy.plugins.filter.deploy_holder import deploy_holder
print(json.dumps(deploy_holder("1.1.0")), flush=True)
time.sleep(60)
"""


@pytest.fixture
def other_run():
    """Another run on this host: a process that took its identity with the filter and still runs."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
    identity = json.loads(proc.stdout.readline())
    yield proc, identity
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_the_identity_is_this_process_with_its_start_time_and_the_version():
    me = deploy_holder("1.1.0")
    assert (me["pid"], me["controller"], me["version"]) == (os.getpid(), socket.gethostname(), "1.1.0")
    assert isinstance(me["user"], str) and me["user"]
    assert isinstance(me["started"], float)


def test_its_own_identity_is_ours():
    assert deploy_holder("1.1.0", holder=deploy_holder("1.1.0")) == "ours"


def test_a_run_of_another_controller_is_held_whatever_its_pid():
    me = deploy_holder("1.1.0")
    holder = {**me, "controller": "elsewhere.example", "controller_id": "elsewhere.example/b/pid:[1]"}
    assert deploy_holder("1.1.0", holder=holder) == "held"


def test_the_controller_id_names_the_boot_and_the_pid_namespace_beside_the_host_name():
    host, boot, pid_ns = deploy_holder("1.1.0")["controller_id"].split("/", 2)
    assert host == socket.gethostname()
    with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
        assert boot == handle.read().strip()
    assert pid_ns == os.readlink("/proc/self/ns/pid")


@pytest.mark.parametrize(
    "other",
    [
        {"controller_id": socket.gethostname() + "/another-boot/pid:[4026531836]"},  # a machine cloned from one image
        {"controller_id": socket.gethostname() + "/same-boot/pid:[4026532999]"},  # another container, same host name
        {"controller_id": None},  # a lock written before controller_id existed
    ],
)
def test_a_gone_pid_of_another_controller_with_the_same_host_name_is_held_not_stale(other_run, other):
    """Two controllers may share a host name: this one's process table says nothing of the other's run."""
    proc, identity = other_run
    proc.kill()
    proc.wait()
    holder = {**identity, **other}
    assert holder["controller"] == socket.gethostname()
    assert deploy_holder("1.1.0", holder=holder) == "held"


def test_another_live_run_of_this_host_is_held(other_run):
    proc, identity = other_run
    assert identity["pid"] == proc.pid and identity["pid"] != os.getpid()
    assert deploy_holder("1.1.0", holder=identity) == "held"


def test_a_run_whose_process_is_gone_is_stale(other_run):
    proc, identity = other_run
    proc.kill()
    proc.wait()
    assert deploy_holder("1.1.0", holder=identity) == "stale"


def test_a_pid_now_held_by_another_process_is_stale(other_run):
    _proc, identity = other_run
    assert deploy_holder("1.1.0", holder={**identity, "started": identity["started"] - 3600}) == "stale"


@pytest.mark.parametrize("holder", [{"controller": socket.gethostname(), "pid": "x"}, {"pid": None}, {}])
def test_an_unreadable_holder_is_never_taken_over(holder):
    assert deploy_holder("1.1.0", holder=holder) == "held"


@pytest.mark.parametrize(("version", "holder"), [(None, None), (110, None), ("1.1.0", ["pid", 1])])
def test_wrong_input_is_an_error(version, holder):
    with pytest.raises(AnsibleFilterError, match="deploy_holder"):
        deploy_holder(version, holder=holder)


def test_the_filter_is_registered_under_its_file_name():
    assert FilterModule().filters() == {"deploy_holder": deploy_holder}
