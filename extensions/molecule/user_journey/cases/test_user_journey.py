# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A user's path, not the lab's: the user's own infra directory, inventory names and group_vars,
the collection installed from its built tarball, the hosts reached over SSH, the app's own user
under systemd, variables given as `-e name=value` strings. The steps run in order, each under live load through HAProxy:
nodes -> refusals (bad input, a wrong user, a stopped node, capacity) -> rolling cold -> re-run ->
hot upgrade -> a bad release rolled back.
"""

import os
import subprocess
import time
from pathlib import Path

import labtools
import pytest

ROOT = labtools.scenario_dir(__file__).parents[2]
APP = labtools.APP
HOSTS = {f"app-{i}": node for i, node in enumerate(labtools.NODES, start=1)}  # as labtools.user_infra names them
FIGURES, figures = labtools.scenario_figures("user_journey")


@pytest.fixture(scope="module")
def infra(tmp_path_factory):
    """The user's repository: infra/ copied, its inventory, secrets and dist, the collection
    installed into its own collections path from the tarball `ansible-galaxy collection build` makes."""
    base = tmp_path_factory.mktemp("user")
    repo = labtools.user_infra(base / "infra", versions=("1.0.0", "1.1.0", "1.2.0", "1.1.0-unhealthy"))
    built = base / "built"
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(built), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (tarball,) = built.glob("beamops-deploy-*.tar.gz")
    subprocess.run(
        ["ansible-galaxy", "collection", "install", str(tarball), "-p", str(repo / "collections")],
        check=True,
        capture_output=True,
        text=True,
        cwd=repo,
        env=user_env(),
    )
    return repo


def user_env() -> dict:
    """The user's shell: no collection path of ours, the infra repo's ansible.cfg decides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return env


def given(strategy: str, version: str) -> list[str]:
    """The -e strings a user types for a strategy's version and its tarball under the infra repo's dist/
    (a hot upgrade takes the rolling role's variables)."""
    prefix = labtools.settings_prefix(strategy)
    return [f"{prefix}_version={version}", f"{prefix}_src=dist/{APP}-{version}.tar.gz"]


def play(infra: Path, playbook: str, *extra: str, keep_pwd: bool = True) -> subprocess.CompletedProcess:
    """ansible-playbook as the user types it in the infra repo, with -e name=value strings."""
    argv = ["ansible-playbook", playbook]
    for item in extra:
        argv += ["-e", item]
    env = user_env()
    if not keep_pwd:
        env.pop("PWD", None)
    return subprocess.run(argv, cwd=infra, env=env, capture_output=True, text=True, timeout=900, check=False)


def under_load(
    step: str, infra: Path, playbook: str, *extra: str, up: bool = True, **kwargs
) -> tuple[subprocess.CompletedProcess, dict]:
    if up:
        labtools.wait_servers_up()
    load = labtools.BackgroundLoad(600, "--concurrency", "6")
    started = time.monotonic()
    result = play(infra, playbook, *extra, **kwargs)
    seconds = round(time.monotonic() - started, 1)
    summary = load.stop()
    FIGURES[step] = {
        "rc": result.returncode,
        "seconds": seconds,
        **{k: summary[k] for k in ("requests", "ok", "failed", "errors", "versions")},
        "p99_ms": summary["latency_ms"]["p99"],
    }
    return result, summary


def deploy(step: str, infra: Path, strategy: str, version: str, *extra: str, **kwargs):
    """beamops.deploy.<strategy> to version as the user types it, under load (see under_load)."""
    return under_load(step, infra, f"beamops.deploy.{strategy}", *given(strategy, version), *extra, **kwargs)


def snapshot() -> dict:
    """What a refusal must leave alone: every member's HAProxy state, every node's current and pid."""
    rows = labtools.backend_servers()
    return {
        node: (
            rows[node]["status"],
            rows[node]["weight"],
            labtools.current_link(node),
            labtools.node_get(node, "/pid")["pid"],
        )
        for node in labtools.NODES
    }


def not_owned_by_app(node: str) -> list[str]:
    found = labtools.podman_exec(node, "find", labtools.APP_ROOT, "!", "-user", APP)
    return found.stdout.split()


def test_nodes_prepared_by_the_node_role(infra):
    first = play(infra, "playbooks/nodes.yml")
    assert first.returncode == 0, first.stdout[-3000:]
    # The collection that ran is the one installed from the tarball into the user's repo.
    assert f"{infra}/collections/ansible_collections/beamops/deploy" in first.stdout
    labtools.wait_servers_up(timeout=60)
    again, load = under_load("nodes re-run", infra, "playbooks/nodes.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(c["changed"] == 0 for c in labtools.recap(again.stdout).values()), labtools.recap(again.stdout)
    assert load["failed"] == 0, load["first_failures"]
    for node in labtools.NODES:
        assert labtools.podman_exec(node, "systemctl", "is-active", APP).stdout.strip() == "active"
        assert labtools.podman_exec(node, "ps", "-o", "user=", "-C", "beam.smp").stdout.split() == [APP]
        cookie = labtools.podman_exec(node, "stat", "-c", "%U %a", f"/home/{APP}/.erlang.cookie").stdout.split()
        assert cookie == [APP, "400"]
        assert labtools.node_get(node, "/")["version"] == "1.0.0"


@pytest.mark.parametrize(
    ("case", "extra", "words"),
    [
        ("empty host pattern", ["beamops_hosts=no_such_group"], ["matches no host", "beamops_hosts"]),
        ("missing required variable", ["rolling_src=dist/beamops_sample-1.1.0.tar.gz"], ["rolling_version"]),
        ("wrong user", ["rolling_node_user=root"], ["serves on port 8080", "does not answer", "rolling_node_user"]),
        # Checked once for every node, naming each member the load balancer does not have.
        (
            "unknown member",
            ["rolling_lb_server=no_such_server"],
            ["Server 'no_such_server' not found in backend 'beam_nodes'", "rolling_lb_server"],
        ),
        # The nodes run 1.0.0; 1.2.0's relup upgrades from 1.1.0 only.
        (
            "relup from another version",
            ["rolling_method=hot", *given("rolling", "1.2.0")],
            ["runs 1.0.0 but", "has a relup from 1.1.0 only", "rolling_method=cold"],
        ),
    ],
)
def test_preflight_refuses_before_any_change(infra, case, extra, words):
    labtools.wait_servers_up()
    before = snapshot()
    # The cases that name their own version and tarball, or leave them out, get no default ones.
    base = [] if any(e.startswith("rolling_version=") for e in extra) else given("rolling", "1.1.0")
    if case == "missing required variable":
        base = []
    result = play(infra, "beamops.deploy.rolling", *base, *extra)
    said = [line.strip() for line in result.stdout.splitlines() if line.startswith(("[ERROR]", "fatal:"))]
    FIGURES.setdefault("refusals", {})[case] = said[0] if said else ""
    assert result.returncode != 0, result.stdout[-3000:]
    for word in words:
        assert word in result.stdout, result.stdout[-3000:]
    assert snapshot() == before


def test_preflight_refuses_a_node_that_does_not_run_unless_told_to_start_it(infra):
    victim = labtools.NODES[2]
    labtools.wait_servers_up()
    labtools.stop_node(victim)
    try:
        others = {n: v for n, v in snapshot_running().items() if n != victim}
        result = play(infra, "beamops.deploy.rolling", *given("rolling", "1.0.0"))
        assert result.returncode != 0
        assert "app-3 runs no beamops_sample node" in result.stdout, result.stdout[-3000:]
        assert "rolling_start_stopped=true" in result.stdout
        assert {n: v for n, v in snapshot_running().items() if n != victim} == others
        current = labtools.current_link(victim)
        assert current == "releases/1.0.0"
        # The explicit option: the stopped node is deployed and started, the others are not touched.
        extra = ("rolling_start_stopped=true", "beamops_hosts=app-3")
        started, load = deploy("stopped node started", infra, "rolling", "1.0.0", *extra, up=False)
        labtools.kept_every_request(started, load)
        assert labtools.node_get(victim, "/")["version"] == "1.0.0"
        assert {n: v for n, v in snapshot_running().items() if n != victim} == others
    finally:
        if labtools.node_script(victim, "ping", check=False).returncode != 0:
            labtools.start_node(victim)
        labtools.wait_servers_up(timeout=60)


def snapshot_running() -> dict:
    rows = labtools.backend_servers()
    return {
        node: (
            rows[node]["status"],
            labtools.current_link(node),
        )
        for node in labtools.NODES
    }


def test_capacity_bound_refuses_a_batch_before_its_drain(infra):
    """One member already in maintenance and a bound of 1 (25 % of 4): the canary would make 2."""
    labtools.wait_servers_up()
    held = labtools.NODES[3]
    labtools.set_member_state(held, "maint")
    try:
        before = snapshot_running()
        result = play(infra, "beamops.deploy.rolling", *given("rolling", "1.1.0"))
        said = [line.strip() for line in result.stdout.splitlines() if "rolling_max_unavailable" in line]
        FIGURES.setdefault("refusals", {})["capacity"] = said[0] if said else ""
        assert result.returncode != 0
        assert f"{held} already out" in result.stdout and "allows 1" in result.stdout, result.stdout[-3000:]
        assert snapshot_running() == before
        # A batch larger than the bound is refused the same way, with every member in rotation.
        labtools.set_member_state(held, "ready")
        labtools.wait_servers_up()
        wide = play(
            infra,
            "beamops.deploy.rolling",
            *given("rolling", "1.1.0"),
            '{"beamops_serial": [2]}',
        )
        assert wide.returncode != 0
        assert "would leave 2 of the 4 members" in wide.stdout, wide.stdout[-3000:]
        assert snapshot_running() == {n: (s if n != held else ("UP", s[1])) for n, s in before.items()}
    finally:
        labtools.set_member_state(held, "ready")
        labtools.wait_servers_up()


def test_rolling_cold_deploy_as_the_apps_user(infra):
    sampler = labtools.OutOfRotation()
    result, load = deploy("rolling cold 1.0.0 -> 1.1.0", infra, "rolling", "1.1.0", "rolling_drain=true")
    capacity = sampler.stop()
    FIGURES["rolling cold 1.0.0 -> 1.1.0"]["capacity"] = capacity
    labtools.kept_every_request(result, load, "1.0.0", "1.1.0")
    # Never more than the bound (25 % of 4 = 1) out of rotation at any sampled moment, and one at a time did happen.
    assert capacity["max_out_of_rotation"] == 1, capacity
    for node in labtools.NODES:
        assert labtools.node_get(node, "/")["version"] == "1.1.0"
        assert labtools.podman_exec(node, "ps", "-o", "user=", "-C", "beam.smp").stdout.split() == [APP]
        assert not_owned_by_app(node) == []
    report, summary = labtools.run_report(result.stdout)
    assert [h["outcome"] for h in report["hosts"]] == ["deployed"] * len(HOSTS)
    # The readable summary: every host with its versions before and after, and no warning in the run.
    text = summary.read_text()
    assert all(f"| {h} | 1.0.0 | 1.1.0 | deployed |" in text for h in HOSTS), text
    assert "[WARNING]" not in result.stdout + result.stderr, result.stdout[-3000:]
    assert [len(h["batch"]) for h in report["hosts"]] == [1] * len(HOSTS)
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}


def test_rerun_changes_nothing_and_reports_where_it_ran(infra):
    reports = infra / "beamops-reports"
    before = set(reports.glob("*.json"))
    # PWD unset, as under some schedulers: the report still lands in the directory the run starts from.
    result, load = deploy("rolling re-run", infra, "rolling", "1.1.0", keep_pwd=False)
    labtools.kept_every_request(result, load)
    counters = labtools.recap(result.stdout)
    assert set(HOSTS) <= set(counters)
    assert all(c["changed"] == 0 for c in counters.values()), counters
    report, summary = labtools.run_report(result.stdout)
    assert [h["outcome"] for h in report["hosts"]] == ["unchanged"] * len(HOSTS)
    # Named per run in the run's directory: the first run's report is still there, beside this one.
    assert summary.parent == reports and set(reports.glob("*.json")) - before == {summary.with_suffix(".json")}
    assert before <= set(reports.glob("*.json"))


def test_hot_upgrade_with_drain_given_as_a_string(infra):
    before = labtools.app_state()
    result, load = deploy("hot upgrade 1.1.0 -> 1.2.0", infra, "hot_upgrade", "1.2.0", "rolling_drain=true")
    labtools.kept_every_request(result, load)
    assert labtools.app_state_lost(before, "1.2.0", "map_v2") == []
    assert {node: not_owned_by_app(node) for node in labtools.NODES} == {node: [] for node in labtools.NODES}
    steps = [[s["step"] for s in h["steps"]] for h in labtools.run_report(result.stdout)[0]["hosts"]]
    assert steps == [["drain", "deploy", "probe", "ready"]] * len(HOSTS)


def test_bad_release_through_the_role_imported_alone_is_rolled_back(infra):
    result, load = under_load(
        "bad release rolled back",
        infra,
        "playbooks/careful_rollout.yml",
        *given("rolling", "1.1.0-unhealthy"),
        "rolling_probe_retries=3",
        "rolling_probe_timeout=15",
    )
    assert result.returncode != 0
    assert "rolled back to 1.2.0" in result.stdout, result.stdout[-3000:]
    assert load["failed"] == 0, load["first_failures"]
    assert "1.1.0-unhealthy" not in load["versions"]
    for node in labtools.NODES:
        assert labtools.node_get(node, "/")["version"] == "1.2.0"
        assert not_owned_by_app(node) == []
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}
    report, summary = labtools.run_report(result.stdout)
    assert [(h["host"], h["outcome"]) for h in report["hosts"]] == [("app-1", "rolled_back")]
    assert "**app-1 rolled back** to 1.2.0. Cause:" in summary.read_text()
