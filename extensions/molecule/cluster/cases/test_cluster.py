# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A distributed Erlang cluster kept whole through its deploys, under live load (issue 29).

The lab's three nodes run beamops_sample 1.0.0 as one cluster: each connects to the peers BEAMOPS_SAMPLE_PEERS
names and holds a copy of a mnesia table replicated on every node; a write (GET /kv/put) is acknowledged once it
committed on every running copy. While each case runs, a writer puts key after key through HAProxy and a
sampler asks HAProxy's nodes how many members their cluster has. In order, each from the state the one before
left:
1. the cluster formed at boot: every node connected to the two others, the table on all three, ready;
2. a cluster already split (node3 cut off from its peers for a while) is refused before any change, the node
   and the peers it misses named;
3. a release whose node cannot rejoin (1.1.0-nojoin: a new cookie) is caught at the canary by the gate after
   its restart, rolled back, and the rollout stops: node2 and node3 untouched, no write lost;
4. --check prints the cluster gates in the plan and changes nothing; the rolling cold deploy to 1.1.0 then
   passes each node through both gates: the cluster never has fewer than 2 of its 3 members, every write
   acknowledged during the rollout is on every node afterwards, no request fails, and the report holds the
   cluster as each node saw it after its batch;
5. a fleet without a load balancer (no lb group, rolling_drain false): the hot upgrade to 1.2.0 with the
   cluster gates and a drain hook of its own; all 3 members throughout, no write lost, the hooks ran;
6. beamops.deploy.rollback of that hot upgrade: every node back to 1.1.0 through the relup, each gated like
   a deploy, all 3 members throughout, no write lost;
7. blue-green across the cluster (blue node1 in service, green node2 and node3 idle): the deploy of 1.2.0 to
   green passes the gates on both, the switch follows, no request fails and no write is lost.
Figures go to .build/figures/<lab>-cluster.json; the fault rows (split, nojoin) carry the first line the user saw
and the seconds until the cluster was whole again, for the README's faults table.
"""

import json
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import labtools

N1, N2, N3 = labtools.NODES
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or tempfile.mkdtemp(prefix="cluster-"))
INVENTORY = labtools.write_inventory(EPHEMERAL / "cluster-inventory.yml")
LOAD = ("--concurrency", "4")
READY = "{beamops_sample_cluster, ready, []}"
FIGURES, figures = labtools.scenario_figures("cluster")


def node_name(host: str) -> str:
    return f"{labtools.APP}@{host}"


def cluster_vars(version: str, report: Path, **more) -> dict:
    return labtools.deploy_vars(
        "rolling",
        version,
        rolling_cluster=True,
        rolling_cluster_ready=READY,
        rolling_cluster_timeout=30,
        rolling_report_path=str(report),
        **more,
    )


def get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


class Watch:
    """While something runs: a writer putting key after key through HAProxy (acknowledged: a 200 naming the key),
    and a sampler asking through HAProxy how many members the answering node's cluster has."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.acked: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.members: list[int] = []
        self.fewest: dict = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._write, self._sample)]
        for thread in self._threads:
            thread.start()

    def _write(self) -> None:
        n = 0
        while not self._stop.is_set():
            key = f"{self.tag}-{n}"
            n += 1
            try:
                status, body = get(f"{labtools.LB_URL}/kv/put?key={key}&value={n}")
            except OSError as exc:
                status, body = 0, {"error": str(exc)[:120]}
            if status == 200 and body.get("key") == key:
                self.acked.append(key)
            else:
                self.failed.append((key, f"{status} {body.get('error', '')}"))
            self._stop.wait(0.05)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = get(f"{labtools.LB_URL}/cluster")
            except OSError:
                status, body = 0, {}
            if status == 200 and body.get("clustered"):
                self.members.append(len(body["members"]))
                if len(body["members"]) <= min(self.members):
                    self.fewest = {"node": body.get("node"), "members": body["members"]}
            self._stop.wait(0.25)

    def stop(self) -> dict:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        return {
            "writes_acknowledged": len(self.acked),
            "writes_failed": len(self.failed),
            "first_failed_writes": self.failed[:5],
            "member_samples": len(self.members),
            "fewest_members": min(self.members, default=0),
            "fewest_seen": self.fewest,
        }


def views() -> dict[str, dict]:
    return {host: labtools.node_get(host, "/cluster") for host in labtools.NODES}


def wait_whole(timeout: float = 60.0) -> dict[str, dict]:
    """Every node connected to the two others and ready (after a restart, a rollback or the end of a split)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = views()
        if all(v["ready"] is True and len(v["members"]) == len(labtools.NODES) for v in seen.values()):
            return seen
        assert time.monotonic() < deadline, f"the cluster did not become whole again: {seen}"
        time.sleep(1)


def lost_writes(acked: list[str]) -> dict[str, list[str]]:
    """The acknowledged keys some node does not hold."""
    lost = {}
    for host in labtools.NODES:
        held = set(labtools.node_get(host, "/kv/keys")["keys"])
        missing = [key for key in acked if key not in held]
        if missing:
            lost[host] = missing[:10]
    return lost


def under_watch(
    tag: str,
    extra_vars: dict,
    inventory: Path = INVENTORY,
    options: tuple[str, ...] = (),
    playbook: str = "beamops.deploy.rolling",
):
    load = labtools.BackgroundLoad(600, *LOAD)
    watch = Watch(tag)
    try:
        run = labtools.run_playbook(playbook, inventory, extra_vars, options=options)
    finally:
        seen = watch.stop()
        traffic = load.stop()
    return run, traffic, seen, watch.acked


def first_line(said: str, start: str) -> str:
    """The message the user saw, from where it starts, as the faults table shows it."""
    at = said.find(start)
    return said[at : at + 160] if at >= 0 else ""


def recovered_in(started: float) -> float:
    wait_whole()
    return round(time.monotonic() - started, 1)


def versions() -> dict[str, str]:
    return {host: labtools.node_get(host, "/")["version"] for host in labtools.NODES}


def test_the_cluster_formed_at_boot():
    seen = wait_whole(90)
    expected = sorted(node_name(h) for h in labtools.NODES)
    for host, view in seen.items():
        assert view["members"] == expected and sorted(view["db_nodes"]) == expected, (host, view)
    status, body = get(f"{labtools.LB_URL}/kv/put?key=boot&value=1")
    assert status == 200 and body["key"] == "boot", body
    assert lost_writes(["boot"]) == {}
    FIGURES["formed"] = {h: v["members"] for h, v in seen.items()}


def test_a_split_cluster_is_refused_before_any_change(tmp_path):
    # node3 refuses its peers' connections for 60 s (the sample's own fault switch): the cluster is split.
    labtools.node_get(N3, "/cluster/isolate?ms=60000")
    deadline = time.monotonic() + 20
    while len(labtools.node_get(N1, "/cluster")["members"]) != 2:
        assert time.monotonic() < deadline, "node3 did not leave the cluster"
        time.sleep(0.5)
    before = versions()
    load = labtools.BackgroundLoad(600, *LOAD)
    run = labtools.run_playbook("beamops.deploy.rolling", INVENTORY, cluster_vars("1.1.0", tmp_path / "split.json"))
    traffic = load.stop()
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, said[-3000:]
    assert "the cluster is not whole before any change" in said, said[-3000:]
    assert f"{N1} ({node_name(N1)}) is not connected to {node_name(N3)}" in said, said[-3000:]
    assert f"{N3} ({node_name(N3)}) is not connected to {node_name(N1)}, {node_name(N2)}" in said, said[-3000:]
    assert versions() == before == dict.fromkeys(labtools.NODES, "1.0.0")
    assert traffic["failed"] == 0, traffic.get("first_failures")
    labtools.node_get(N3, "/cluster/isolate?ms=0")
    FIGURES["fault_split"] = {
        "load": traffic,
        "first_line": first_line(said, "rolling: the cluster is not whole"),
        "recover_s": recovered_in(time.monotonic()),
    }


def test_a_node_that_cannot_rejoin_is_rolled_back_at_the_canary(tmp_path):
    report = tmp_path / "nojoin.json"
    started = time.monotonic()
    run, traffic, seen, acked = under_watch("nojoin", cluster_vars("1.1.0-nojoin", report))
    took = round(time.monotonic() - started, 1)
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, said[-3000:]
    assert f"{N1} ({node_name(N1)}) did not rejoin its cluster within 30 s" in said, said[-3000:]
    assert f"{node_name(N1)} is not connected to {node_name(N2)}, {node_name(N3)}" in said, said[-3000:]
    records = {r["host"]: r for r in json.loads(report.read_text())["hosts"]}
    assert set(records) == {N1} and records[N1]["outcome"] == "rolled_back", records
    assert records[N1]["cluster"]["whole"] is True, records[N1]["cluster"]  # rejoined on the old release
    assert versions() == dict.fromkeys(labtools.NODES, "1.0.0")
    assert traffic["failed"] == 0, traffic.get("first_failures")
    recover_s = recovered_in(time.monotonic())
    assert lost_writes(acked) == {} and seen["writes_failed"] == 0, seen
    assert seen["fewest_members"] >= len(labtools.NODES) - 1, seen
    FIGURES["nojoin_caught_at_canary"] = {
        "seconds": took,
        "load": traffic,
        "cluster": seen,
        "first_line": first_line(said, f"rolling: {N1} failed to deploy"),
        "recover_s": recover_s,
    }


def test_a_rolling_deploy_keeps_the_cluster_whole_and_every_write(tmp_path):
    plan = labtools.run_playbook(
        "beamops.deploy.rolling", INVENTORY, cluster_vars("1.1.0", tmp_path / "plan.json"), options=("--check",)
    )
    planned = " ".join(plan.stdout.split())
    assert plan.returncode == 0, planned[-3000:]
    assert f"cluster gates (within 30 s): before it leaves, {node_name(N1)} connected to" in planned, planned[-3000:]
    assert versions() == dict.fromkeys(labtools.NODES, "1.0.0"), "--check changed a node"

    report = tmp_path / "rolling.json"
    run, traffic, seen, acked = under_watch("rolling", cluster_vars("1.1.0", report))
    labtools.kept_every_request(run, traffic, "1.0.0", "1.1.0")
    assert versions() == dict.fromkeys(labtools.NODES, "1.1.0")
    assert seen["fewest_members"] >= len(labtools.NODES) - 1 and seen["member_samples"] > 20, seen
    assert lost_writes(acked) == {} and seen["writes_failed"] == 0, seen
    assert seen["writes_acknowledged"] > 50, seen
    records = json.loads(report.read_text())["hosts"]
    for record in records:
        steps = [s["step"] for s in record["steps"]]
        assert steps.index("cluster_leave") < steps.index("drain") < steps.index("cluster_rejoin"), steps
        assert record["cluster"]["whole"] and len(record["cluster"]["members"]) == 3, record["cluster"]
        assert record["cluster"]["versions"][node_name(record["host"])] == "1.1.0", record["cluster"]
    summary = report.with_suffix(".md").read_text()
    assert "cluster after its deploy: 3 members" in summary, summary
    FIGURES["rolling"] = {"load": traffic, "cluster": seen, "seconds": [r["seconds"] for r in records]}


def test_a_fleet_without_a_load_balancer_upgrades_hot_with_the_gates(tmp_path):
    inventory = labtools.write_inventory(tmp_path / "no-lb.yml", lbs=())
    marks = tmp_path / "hooks.log"
    hook = tmp_path / "hook.yml"
    hook.write_text(
        "- name: Record the hook\n"
        "  ansible.builtin.lineinfile:\n"
        f"    path: {marks}\n"
        '    line: "{{ inventory_hostname }} {{ __rolling_stage }}"\n'
        "    create: true\n"
        "    mode: '0644'\n"
        "  delegate_to: localhost\n",
        encoding="utf-8",
    )
    report = tmp_path / "hot.json"
    extra = cluster_vars(
        "1.2.0",
        report,
        rolling_method="hot",
        rolling_drain=False,
        rolling_hooks={"before_drain": str(hook), "after_ready": str(hook)},
    )
    run, traffic, seen, acked = under_watch("hot", extra, inventory=inventory)
    labtools.kept_every_request(run, traffic, "1.2.0")
    assert versions() == dict.fromkeys(labtools.NODES, "1.2.0")
    assert seen["fewest_members"] == len(labtools.NODES), seen  # a hot upgrade: no node ever leaves
    assert lost_writes(acked) == {} and seen["writes_failed"] == 0, seen
    lines = marks.read_text().splitlines()
    assert lines == [f"{h} {stage}" for h in labtools.NODES for stage in ("drain", "ready")], lines
    FIGURES["hot_without_lb"] = {"load": traffic, "cluster": seen}


def test_a_fleet_rollback_passes_the_gates(tmp_path):
    # beamops.deploy.rollback of the hot upgrade: each node back to 1.1.0 through the relup, gated like a deploy.
    report = tmp_path / "back.json"
    extra = cluster_vars("1.2.0", report, beamops_strategy="rolling")
    run, traffic, seen, acked = under_watch("rollback", extra, playbook="beamops.deploy.rollback")
    labtools.kept_every_request(run, traffic, "1.1.0")
    assert versions() == dict.fromkeys(labtools.NODES, "1.1.0")
    assert seen["fewest_members"] == len(labtools.NODES), seen  # a hot downgrade: no node leaves
    assert lost_writes(acked) == {} and seen["writes_failed"] == 0, seen
    records = json.loads((tmp_path / "back-rollback.json").read_text())["hosts"]
    for record in records:
        steps = [s["step"] for s in record["steps"]]
        assert record["outcome"] == "reverted" and "cluster_leave" in steps and "cluster_rejoin" in steps, record
    FIGURES["fleet_rollback"] = {"load": traffic, "cluster": seen}


def test_blue_green_across_the_cluster_passes_the_gates_on_the_idle_colour(tmp_path):
    # Blue (node1) serves; green (node2, node3) is idle, in maintenance, and gets 1.2.0.
    blue, green = (N1,), (N2, N3)
    for host in green:
        labtools.set_member_state(host, "maint")
    inventory = labtools.write_inventory(tmp_path / "colours.yml", groups={"blue": blue, "green": green})
    report = tmp_path / "bg.json"
    extra = {
        "blue_green_app_name": labtools.APP,
        "blue_green_version": "1.2.0",
        "blue_green_src": labtools.tarball("1.2.0"),
        "blue_green_lb_backends": ["beam_nodes"],
        "blue_green_cluster": True,
        "blue_green_cluster_ready": READY,
        "blue_green_cluster_timeout": 30,
        "blue_green_report_path": str(report),
    }
    try:
        plan = labtools.run_playbook("beamops.deploy.blue_green", inventory, extra, options=("--check",))
        planned = " ".join(plan.stdout.split())
        assert plan.returncode == 0 and "cluster gates (within 30 s) on each node of the green colour" in planned, (
            planned[-3000:]
        )
        load = labtools.BackgroundLoad(600, *LOAD)
        watch = Watch("blue-green")
        try:
            run = labtools.run_playbook("beamops.deploy.blue_green", inventory, extra)
        finally:
            seen = watch.stop()
            traffic = load.stop()
        labtools.kept_every_request(run, traffic, "1.1.0", "1.2.0")
        assert versions() == {N1: "1.1.0", N2: "1.2.0", N3: "1.2.0"}
        assert labtools.admin_states() == {N1: "maint", N2: "ready", N3: "ready"}
        wait_whole()
        assert lost_writes(watch.acked) == {} and seen["writes_failed"] == 0, seen
        nodes = {n["host"]: n for n in json.loads(report.read_text())["nodes"]}
        for host in labtools.NODES:
            assert len(nodes[host]["cluster"]["members"]) == 3, nodes[host]
        FIGURES["blue_green"] = {"load": traffic, "cluster": seen}
    finally:  # every member in rotation again, as the lab's end state expects
        for host in labtools.NODES:
            labtools.set_member_state(host, "ready")
