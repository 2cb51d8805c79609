# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pause, promote and the fleet rollback of a rolling deploy, under live load (issue 12).

Runs after test_canary.py, whatever state it left: the first test puts every node on 1.1.0, all in
rotation (a plain rolling deploy, no load). Then, in order:
1. a fleet rollback naming a version no node has is refused before any change;
2. a cold rolling deploy of 1.2.0 with a promote gate after every batch (rolling_promote=file, as CI
   would run it): the first gate is promoted, the second gets `abort`, so the rollout stops after its
   second batch and the playbook rolls node1 and node2 back to 1.1.0 (the fleet rollback, batch by
   batch, drained, probed), node3 never touched; 0 failed requests through HAProxy;
3. a hot upgrade of node1 and node2 to 1.2.0, then `beamops.deploy.rollback -e beamops_strategy=rolling`
   on the whole fleet: the relup downgrade on the two (found hot from their own history, same OS
   pids), node3 left alone; 0 failed requests.
Figures go to .build/figures/<lab>-canary-rollout-control.json.
"""

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import labtools

BACKEND = labtools.lab_vars()["lab_haproxy_backend"]
NODES = labtools.NODES
DONE, UNTOUCHED = NODES[:2], NODES[2:]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or tempfile.mkdtemp(prefix="rollout-control-"))
# The lab over SSH (groups beam_nodes and lb, and blue and green as in molecule.yml), as production runs.
INVENTORY = labtools.write_inventory(EPHEMERAL / "rc-inventory.yml", groups={"blue": NODES[:2], "green": NODES[2:]})
LOAD = ("--concurrency", "6", "--slow-ratio", "0.1")
FIGURES, figures = labtools.scenario_figures("canary-rollout-control")


def playbook(name: str, extra: dict, log: str, options: tuple = ()) -> subprocess.CompletedProcess:
    run = labtools.run_playbook(f"beamops.deploy.{name}", INVENTORY, extra, options=options)
    (EPHEMERAL / f"last-{log}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    return run


def said(run: subprocess.CompletedProcess) -> str:
    return " ".join((run.stdout + run.stderr).split())


def versions() -> dict[str, str]:
    return {node: labtools.node_get(node, "/")["version"] for node in NODES}


def pids() -> dict[str, int]:
    return {node: labtools.node_get(node, "/pid")["pid"] for node in NODES}


def all_in_rotation() -> None:
    assert set(labtools.admin_states(BACKEND).values()) == {"ready"}, labtools.admin_states(BACKEND)
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}


def under_load(name: str, extra: dict, log: str, during=None):
    """A playbook run under load through HAProxy: (run, load summary, wall seconds of the run)."""
    labtools.wait_servers_up()
    load = labtools.BackgroundLoad(900, *LOAD, "--records", str(EPHEMERAL / f"requests-{log}.jsonl"))
    time.sleep(1)  # some traffic before anything changes
    started = time.monotonic()
    try:
        if during:
            during.start()
        run = playbook(name, extra, log)
        took = round(time.monotonic() - started, 1)
        time.sleep(1)  # and some after
    finally:
        summary = load.stop()
    return run, summary, took


def load_figures(summary: dict, took: float) -> dict:
    keep = ("requests", "ok", "failed", "errors", "versions")
    return {k: summary[k] for k in keep} | {"p99_ms": summary["latency_ms"]["p99"], "run_s": took}


def test_every_node_starts_on_1_1_0_in_rotation():
    # test_canary.py leaves blue (node1, node2) in maintenance on 1.1.0 and green (node3) on 1.2.0.
    for node, state in labtools.admin_states(BACKEND).items():
        if state != "ready":
            labtools.set_member_state(node, "ready", backend=BACKEND)
    if set(versions().values()) != {"1.1.0"}:
        extra = labtools.deploy_vars(
            "rolling", "1.1.0", beamops_max_unavailable=2, rolling_report_path=str(EPHEMERAL / "reset.json")
        )
        run = playbook("rolling", extra, "reset")
        assert run.returncode == 0, run.stdout[-3000:]
    assert versions() == dict.fromkeys(NODES, "1.1.0")
    all_in_rotation()


def test_a_rollback_of_a_version_no_node_has_is_refused_before_any_change():
    before = pids()
    run = playbook(
        "rollback",
        {"beamops_strategy": "rolling", "rolling_app_name": labtools.APP, "rolling_version": "9.9.9"},
        "refused",
    )
    assert run.returncode != 0
    message = said(run)
    assert "no node of this run" in message and "runs 9.9.9 nor ever ran it" in message, message[-3000:]
    assert "set rolling_version to the version the deploy installed" in message, message[-3000:]
    assert pids() == before and versions() == dict.fromkeys(NODES, "1.1.0")
    all_in_rotation()


class Gate(threading.Thread):
    """What CI does at each promote gate: `promote` for the first, then `abort` once the first was read
    (the gate removes the file it read)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.aborted_at = None

    def run(self) -> None:
        self.path.write_text("promote\n")
        deadline = time.monotonic() + 600
        while self.path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.path.write_text("abort\n")
        self.aborted_at = time.time()


def test_a_rollout_aborted_after_its_second_batch_is_rolled_back_across_the_fleet_under_load():
    before = pids()
    report = EPHEMERAL / "rolling-gated.json"
    back = EPHEMERAL / "rolling-gated-rollback.json"
    promote = EPHEMERAL / "promote"
    for path in (report, back, promote):
        path.unlink(missing_ok=True)
    run, summary, took = under_load(
        "rolling",
        labtools.deploy_vars(
            "rolling",
            "1.2.0",
            rolling_report_path=str(report),
            rolling_promote="file",
            rolling_promote_file=str(promote),
            rolling_promote_timeout=300,
        ),
        "gated",
        during=Gate(promote),
    )
    FIGURES["aborted_and_rolled_back"] = load_figures(summary, took)
    message = said(run)
    assert run.returncode != 0, run.stdout[-4000:]
    assert "promote gate after " + DONE[0] + ": promote" in message, message[-4000:]
    assert "promote gate after " + DONE[1] + ": abort" in message, message[-4000:]
    assert "the rollout was aborted at the promote gate after " + DONE[1] in message, message[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    assert {"1.1.0", "1.2.0"} <= set(summary["versions"]), summary["versions"]
    # The deploy reached two batches; the rollback returned those two hosts, one batch each.
    deployed = json.loads(report.read_text())
    assert [(h["host"], h["outcome"]) for h in deployed["hosts"]] == [(n, "deployed") for n in DONE]
    data = json.loads(back.read_text())
    assert data["kind"] == "rollback" and data["outcome"] == "ok" and data["version"] == "1.2.0"
    hosts = {h["host"]: h for h in data["hosts"]}
    assert {n: hosts[n]["outcome"] for n in NODES} == {**dict.fromkeys(DONE, "reverted"), UNTOUCHED[0]: "unchanged"}
    assert [(hosts[n]["version_before"], hosts[n]["version_after"], hosts[n]["method"]) for n in DONE] == [
        ("1.2.0", "1.1.0", "cold")
    ] * 2
    assert [hosts[n]["batch"] for n in DONE] == [[DONE[0]], [DONE[1]]]
    assert all({"drain", "deploy", "probe", "ready"} <= {s["step"] for s in hosts[n]["steps"]} for n in DONE)
    FIGURES["aborted_and_rolled_back"]["rollback_steps"] = {n: hosts[n]["steps"] for n in DONE}
    assert "rollback (every node back from 1.2.0" in back.with_suffix(".md").read_text()
    # Every node on the version it had, current naming it, node3 never restarted, all in rotation.
    assert versions() == dict.fromkeys(NODES, "1.1.0")
    assert {n: labtools.current_link(n) for n in NODES} == dict.fromkeys(NODES, "releases/1.1.0")
    after = pids()
    assert all(after[n] != before[n] for n in DONE) and all(after[n] == before[n] for n in UNTOUCHED)
    all_in_rotation()


def test_a_hot_upgrade_is_rolled_back_through_the_relup_by_the_rollback_playbook_under_load():
    run = playbook(
        "hot_upgrade",
        labtools.deploy_vars(
            "hot_upgrade",
            "1.2.0",
            beamops_hosts=",".join(DONE),
            rolling_drain=True,
            rolling_report_path=str(EPHEMERAL / "hot-upgrade.json"),
        ),
        "hot",
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert versions() == {**dict.fromkeys(DONE, "1.2.0"), **dict.fromkeys(UNTOUCHED, "1.1.0")}
    before = pids()
    report = EPHEMERAL / "hot.json"
    back = EPHEMERAL / "hot-rollback.json"
    back.unlink(missing_ok=True)
    rollback_vars = {
        "beamops_strategy": "rolling",
        "rolling_app_name": labtools.APP,
        "rolling_version": "1.2.0",
        "rolling_report_path": str(report),
    }
    # --check first: the plan of each node, from its own history, and nothing changed.
    check = playbook("rollback", rollback_vars, "hot-rollback-check", options=("--check", "--diff"))
    assert check.returncode == 0, check.stdout[-3000:]
    for node in DONE:
        plan = f"plan: {node} (batch {node}): 1.2.0 -> 1.1.0 (fleet rollback) by hot upgrade (release_handler"
        assert plan in said(check), said(check)[-3000:]
    assert f"plan: {UNTOUCHED[0]} (batch {UNTOUCHED[0]}): runs 1.1.0" in said(check), said(check)[-3000:]
    assert "left alone" in said(check)
    assert not back.exists() and pids() == before
    assert versions() == {**dict.fromkeys(DONE, "1.2.0"), **dict.fromkeys(UNTOUCHED, "1.1.0")}
    run, summary, took = under_load("rollback", rollback_vars, "hot-rollback")
    FIGURES["hot_rolled_back"] = load_figures(summary, took)
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    data = json.loads(back.read_text())
    hosts = {h["host"]: h for h in data["hosts"]}
    assert {n: (hosts[n]["outcome"], hosts[n]["method"]) for n in DONE} == dict.fromkeys(DONE, ("reverted", "hot"))
    assert hosts[UNTOUCHED[0]]["outcome"] == "unchanged"
    # The relup downgrade: no restart, the same OS processes now run 1.1.0, which is what current names.
    assert pids() == before
    assert versions() == dict.fromkeys(NODES, "1.1.0")
    assert {n: labtools.current_link(n) for n in NODES} == dict.fromkeys(NODES, "releases/1.1.0")
    all_in_rotation()
