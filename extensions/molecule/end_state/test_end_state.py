# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every scenario with cases must leave once they are done (converge runs them, ../cases.yml),
whatever they did: deploys, refusals, faults, rollbacks. The verify step of blue_green, canary,
faults, lb_modules, node_modules, rolling and user_journey (molecule.yml: verifier directory
../end_state); lab keeps its own read-only tests.

Only reads, so `molecule verify` can run again and again: HAProxy's admin sockets, the nodes'
processes and files through podman, a short load of GET requests, and the read-only release_info
module as the app's own user.

- every node runs one VM, as the user and under the service manager the node role recorded;
- every node is consistent: release_info finds no drift and a cold restart boots what runs;
- no deploy lock and no drain mark is left on any node;
- every member is UP and ready on every load balancer; with blue and green groups, the idle
  colour's members may instead wait in maintenance while the other colour's all serve;
- requests through HAProxy are all answered, by the versions the serving members run.
"""

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import labtools
import pytest

# The release in service at the end: the lab's sample, unless the scenario's last cases moved the
# nodes to another one (rolling ends on samples/stock_rebar3; molecule.yml: verifier env
# BEAMOPS_END_APP). Its root is the node role's default, /opt/<name>.
APP = os.environ.get("BEAMOPS_END_APP", labtools.APP)
ROOT = f"/opt/{APP}"


@cache
def groups() -> dict[str, list[str]]:
    """The scenario's inventory groups, as ansible-inventory reads Molecule's inventory."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    out = subprocess.run(
        ["ansible-inventory", "-i", str(inventory), "--list"], check=True, capture_output=True, text=True, timeout=120
    )
    data = json.loads(out.stdout)
    return {name: entry.get("hosts", []) for name, entry in data.items() if isinstance(entry, dict)}


def nodes() -> list[str]:
    return groups()["beam_nodes"]


def members(lb: str) -> dict[str, tuple[str, str]]:
    return labtools.member_states(lb, labtools.lab_vars()["lab_haproxy_backend"])


def expected_admin() -> dict[str, str]:
    """ready for every node. With blue and green groups, the idle colour may wait in maintenance
    instead: then one colour is wholly ready and the other wholly in maint, never a mix or neither."""
    everyone = {node: "ready" for node in nodes()}
    colours = {c: groups().get(c, []) for c in ("blue", "green")}
    admin = {name: state for name, (_status, state) in members(labtools.LB).items()}
    if not all(colours.values()) or all(admin.get(n) == "ready" for n in everyone):
        return everyone
    serving = [c for c, hosts in colours.items() if all(admin.get(h) == "ready" for h in hosts)]
    assert len(serving) == 1, f"no colour wholly serving: {admin}"
    return {h: ("ready" if c == serving[0] else "maint") for c, hosts in colours.items() for h in hosts}


@pytest.mark.parametrize("lb", groups()["lb"] if "MOLECULE_INVENTORY_FILE" in os.environ else [labtools.LB])
def test_every_member_is_up_and_in_its_state(lb):
    """A member drained or left in maintenance by a run would keep its node out of traffic for good."""
    want = expected_admin()
    got = members(lb)
    assert {n: got.get(n) for n in want} == {n: ("MAINT" if s == "maint" else "UP", s) for n, s in want.items()}


def test_every_node_runs_one_vm_as_the_node_role_recorded():
    """The user and service manager the node role recorded (<root>/.beamops/node.json): the app's own
    user under systemd in the lab, root and the release's own script in node_modules."""
    for node in nodes():
        identity = labtools.app_identity(node, ROOT)
        if identity["service_manager"] == "systemd":
            unit = labtools.unit_properties(node, identity["service_name"], "ActiveState", "MainPID")
            assert unit["ActiveState"] == "active" and unit["MainPID"] != "0", (node, unit)
        vms = labtools.podman_exec(node, "ps", "-o", "user=", "-C", "beam.smp", check=False).stdout.split()
        assert vms == [identity["user"]], (node, identity, vms)


def test_every_node_is_consistent_and_a_restart_boots_what_runs():
    """release_info (read-only) as the app's user: the running, permanent, current and start-script
    versions agree, so neither a VM restart nor a cold start brings another version back."""
    for node in nodes():
        user = labtools.app_identity(node, ROOT)["user"]
        info = labtools.run_module(node, "beamops.deploy.release_info", {"name": APP, "root": ROOT}, become_user=user)
        assert not info.get("failed"), (node, info.get("msg"))
        assert info["node"]["up"], (node, info["node"])
        assert info["warnings_text"] == "", (node, info["warnings_text"])
        assert info["cold_restart_boots_running"] is True, (node, info)
        assert info["node"]["running_version"] == info["node"]["permanent_version"] == info["current"], (node, info)


def test_no_deploy_lock_or_drain_mark_is_left():
    """Under every release root a scenario used (/opt/*): a lock left would refuse the next deploy; a
    drain mark would have the next one ready a member."""
    left = [
        f"{node}:{path}"
        for node in nodes()
        for path in labtools.podman_exec(
            node, "sh", "-c", "ls -d /opt/*/.beamops/deploy.lock /opt/*/.beamops/drained.json 2>/dev/null", check=False
        ).stdout.split()
    ]
    assert left == []


def test_requests_are_answered_by_the_versions_the_serving_members_run():
    load = labtools.run_load(3.0)
    assert load["failed"] == 0, load.get("first_failures")
    want = expected_admin()
    running = {labtools.node_get(node, "/")["version"] for node, state in want.items() if state == "ready"}
    assert set(load["versions"]) == running, (load["versions"], running)
