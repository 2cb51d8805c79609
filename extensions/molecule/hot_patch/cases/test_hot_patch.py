# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hot patches under live load (issue 30): beamops_sample-1.0.0+patch, a rebuild of 1.0.0 whose counter
keeps its count in a map recording the patch's Extra and whose answers carry a patch mark, loaded into
running nodes without a relup.

The lab starts with node1..node3 on 1.0.0, in rotation. In order, each from the state the one before left:
0. with rolling_cluster=true the patch is refused before any change, each node named with the peers it is not
   connected to (the lab's nodes form no cluster: issue 29's gate, before its clustered scenario);
1. the rolling playbook with rolling_method=patch and an Extra that makes code_change crash: the canary's
   patch is undone on the node (the code that ran before loaded back, the counter's state untouched), the
   rollout stops, node2 and node3 are untouched, the OS pids are kept and no request fails;
2. --check of the good patch prints the plan and changes nothing; the patch itself reaches every node:
   answers carry the mark, the counter's state is the patched map with its count kept, the OS pids are
   kept, no request fails; a re-run changes nothing (no batch: the nodes run the patch already);
3. on node1, the patch rolled back by the module while a slow request still runs the patched code: a new
   patch is then refused (old code still in use) with nothing changed, and loads once the request ended;
4. a restart of node1 drops the patch the report said a restart drops; a persisted patch (rolling_patch_persist)
   survives the next restart;
5. beamops.deploy.rollback (rolling, rolling_method=patch) returns every node's patch, node1's files too, with
   the OS pids kept and no failed request.
Figures go to .build/figures/<lab>-hot_patch.json.
"""

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import labtools
import yaml

LAB_VARS = yaml.safe_load((labtools.LAB_DIR / "vars.yml").read_text())
N1, N2, N3 = labtools.NODES
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or tempfile.mkdtemp(prefix="hot_patch-"))
INVENTORY = labtools.write_inventory(EPHEMERAL / "hot_patch-inventory.yml")
LOAD = ("--concurrency", "6", "--slow-ratio", "0.1")
PATCH = "1.0.0+patch"
COUNTER = "beamops_sample_counter"
FIGURES, figures = labtools.scenario_figures("hot_patch")


def patch_vars(report: Path, extra: str, **more) -> dict:
    """The rolling playbook patching the lab's 1.0.0 with the sample's rebuild; Extra given to the counter."""
    return {
        "rolling_app_name": labtools.APP,
        "rolling_version": "1.0.0",
        "rolling_src": labtools.tarball(PATCH),
        "rolling_method": "patch",
        "rolling_patch_processes": [{"name": COUNTER, "extra": extra}],
        "rolling_report_path": str(report),
    } | more


def under_load(extra_vars: dict, options: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict]:
    load = labtools.BackgroundLoad(600, *LOAD)
    run = labtools.run_playbook("beamops.deploy.rolling", INVENTORY, extra_vars, options=options)
    return run, load.stop()


def patched(node: str) -> bool:
    return labtools.node_get(node, "/").get("patch") == PATCH


def test_a_fleet_that_is_not_a_cluster_is_refused_by_the_cluster_gate(tmp_path):
    # The lab's nodes are not connected to each other: with rolling_cluster, each misses the two others.
    before = labtools.app_state()
    run = labtools.run_playbook(
        "beamops.deploy.rolling", INVENTORY, patch_vars(tmp_path / "split.json", '<<"p0">>', rolling_cluster=True)
    )
    assert run.returncode != 0, run.stdout[-3000:]
    said = " ".join((run.stdout + run.stderr).split())  # ansible-core 2.19 prints a task's error on stderr
    assert "the cluster is not whole before any change" in said, said[-3000:]
    assert said.count(") is not connected to ") >= len(labtools.NODES), said[-3000:]  # stdout and stderr both
    assert all(f"{node} ({labtools.APP}@" in said for node in labtools.NODES), said[-3000:]
    assert labtools.app_state_lost(before, "1.0.0", "integer") == []
    assert not any(patched(n) for n in labtools.NODES)


def test_a_patch_crashing_in_code_change_is_undone_on_the_canary(tmp_path):
    before = labtools.app_state()
    report = tmp_path / "crash.json"
    run, load = under_load(patch_vars(report, "{simulate_crash, canary}"))
    assert run.returncode != 0, run.stdout[-3000:]
    said = " ".join(run.stdout.split())
    assert "code_change of beamops_sample_counter failed" in said and "simulated_code_change_crash" in said, said[
        -3000:
    ]
    records = {r["host"]: r for r in json.loads(report.read_text())["hosts"]}
    assert records[N1]["outcome"] == "rolled_back" and records[N1]["patch"]["restored"] is True, records[N1]
    assert set(records) == {N1}, "the rollout went on past the canary"
    assert load["failed"] == 0, load.get("first_failures")
    assert labtools.app_state_lost(before, "1.0.0", "integer") == []
    assert not any(patched(n) for n in labtools.NODES)
    FIGURES["crash_on_canary"] = {"load": load, "outcome": records[N1]["outcome"]}


def test_a_patch_reaches_every_node_with_pids_and_state_kept(tmp_path):
    before = labtools.app_state()
    plan = labtools.run_playbook(
        "beamops.deploy.rolling", INVENTORY, patch_vars(tmp_path / "plan.json", '<<"p1">>'), options=("--check",)
    )
    assert plan.returncode == 0, plan.stdout[-3000:]
    assert "the modules the rebuild changes, loaded into the running node" in " ".join(plan.stdout.split())
    assert not any(patched(n) for n in labtools.NODES), "--check changed a node"

    report = tmp_path / "patch.json"
    run, load = under_load(patch_vars(report, '<<"p1">>'))
    labtools.kept_every_request(run, load, "1.0.0")
    assert labtools.app_state_lost(before, "1.0.0", "map") == []
    for node in labtools.NODES:
        answer = labtools.node_get(node, "/counter/value")
        assert answer.get("patch") == PATCH and answer["patch_state"] == "p1", (node, answer)
    records = json.loads(report.read_text())["hosts"]
    assert [r["host"] for r in records] == list(labtools.NODES)
    for record in records:
        assert record["outcome"] == "deployed" and record["method"] == "patch", record
        modules = sorted(m["module"] for m in record["patch"]["modules"] if m["loaded"])
        assert modules == ["beamops_sample_counter", "beamops_sample_http"], record["patch"]
        assert record["patch"]["survives_restart"] is False

    # A re-run: each node's plan finds nothing to load, so no node gets a batch (their locks come and go).
    kept = labtools.app_state()
    again = labtools.run_playbook("beamops.deploy.rolling", INVENTORY, patch_vars(tmp_path / "again.json", '<<"p1">>'))
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(r["batch"] == [] for r in json.loads((tmp_path / "again.json").read_text())["hosts"])
    assert labtools.app_state_lost(kept, "1.0.0", "map") == []
    FIGURES["patch"] = {"load": load, "seconds": [r["seconds"] for r in records]}


def module_as_app(node: str, **args) -> dict:
    return labtools.run_module(
        node,
        "beamops.deploy.hot_patch",
        {"name": labtools.APP, "root": labtools.APP_ROOT, **args},
        become_user=labtools.app_user(node),
    )


def test_a_patch_over_old_code_still_in_use_is_refused_with_nothing_changed():
    # A request sleeping 10 s in the patched HTTP module while the patch is rolled back: it runs old code then.
    url = "http://127.0.0.1:8080/slow?ms=10000"
    code = f"import urllib.request as u; print(u.urlopen('{url}', timeout=30).read().decode())"
    slow = subprocess.Popen(["podman", "exec", N1, "python3", "-c", code], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    back = module_as_app(N1, state="rolled_back")
    assert back.get("changed") is True and not back.get("failed"), back
    assert not patched(N1) and labtools.node_get(N1, "/counter/value")["state_shape"] == "integer"

    refused = module_as_app(N1, version="1.0.0", processes=[{"name": COUNTER, "extra": '<<"p2">>'}])
    assert refused.get("failed") and "old code of beamops_sample_http is still run by" in refused["msg"], refused
    assert not patched(N1), "the refused patch changed the node"
    assert slow.wait(timeout=40) == 0 and json.loads(slow.stdout.read())["patch"] == PATCH  # it ended in the old code

    again = module_as_app(N1, version="1.0.0", processes=[{"name": COUNTER, "extra": '<<"p2">>'}])
    assert again.get("changed") is True and not again.get("failed"), again
    assert labtools.node_get(N1, "/counter/value")["patch_state"] == "p2"
    FIGURES["old_code_refusal"] = refused["msg"]


def restart(node: str) -> None:
    """Restart the release on node out of rotation (drained first), and back in."""
    labtools.set_member_state(node, "drain")
    labtools.wait_member(node, lambda row: row["scur"] == "0", "drained")
    labtools.stop_node(node)
    labtools.start_node(node)
    labtools.wait_answering(node)
    labtools.set_member_state(node, "ready")
    labtools.wait_servers_up((node,))


def test_a_restart_drops_a_plain_patch_and_keeps_a_persisted_one(tmp_path):
    restart(N1)
    assert not patched(N1), "a restart kept a patch that was not persisted"

    report = tmp_path / "persist.json"
    run, load = under_load(patch_vars(report, '<<"p3">>', beamops_hosts=N1, rolling_patch_persist=True))
    labtools.kept_every_request(run, load, "1.0.0")
    [record] = json.loads(report.read_text())["hosts"]
    assert record["patch"]["survives_restart"] is True, record
    restart(N1)
    answer = labtools.node_get(N1, "/counter/value")
    assert answer.get("patch") == PATCH and answer["patch_state"] == "persisted", answer
    FIGURES["restart"] = {"persisted_after_restart": answer}


def test_a_fleet_rollback_returns_every_node_s_patch(tmp_path):
    # node1 runs a persisted patch, node2 and node3 plain ones: all go back to the release's own code.
    before = labtools.app_state()
    report = tmp_path / "fleet.json"
    load = labtools.BackgroundLoad(600, *LOAD)
    run = labtools.run_playbook(
        "beamops.deploy.rollback",
        INVENTORY,
        {
            "beamops_strategy": "rolling",
            "rolling_app_name": labtools.APP,
            "rolling_version": "1.0.0",
            "rolling_method": "patch",
            "rolling_report_path": str(report),
        },
    )
    labtools.kept_every_request(run, load.stop(), "1.0.0")
    assert labtools.app_state_lost(before, "1.0.0", "integer") == []
    # A fleet rollback writes its report beside the path given, as <path>-rollback.json.
    records = json.loads((tmp_path / "fleet-rollback.json").read_text())["hosts"]
    assert sorted(r["host"] for r in records if r["outcome"] == "reverted") == sorted(labtools.NODES), records
    for node in labtools.NODES:
        assert not patched(node), node
        info = labtools.run_module(
            node,
            "beamops.deploy.release_info",
            {"name": labtools.APP, "root": labtools.APP_ROOT, "patched_modules": True},
            become_user=labtools.app_user(node),
        )
        assert info["patched_modules"] == [], (node, info["patched_modules"])  # node1's files restored too
        assert not [p for p in info["patches"] if p["state"] == "applied"], info["patches"]
    FIGURES["fleet_rollback"] = {"reverted": [r["host"] for r in records], "seconds": [r["seconds"] for r in records]}
