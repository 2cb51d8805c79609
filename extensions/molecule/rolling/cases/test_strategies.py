# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling and hot upgrade playbooks under live load through HAProxy, in order on one lab.

Each step runs the collection's playbook the way a user does and counts every request the load
generator sent meanwhile: a single failed request fails the step. The last steps deploy the stock
releases (samples/stock_mix, samples/stock_rebar3: as `mix new --sup` and `rebar3 new release`
wrote them) with the node role's defaults, and check that no module wrote an ~/.erlang.cookie.
"""

import json
import os
from pathlib import Path

import labtools
import pytest

SCENARIO = labtools.scenario_dir(__file__)
ERLANG = labtools.APP
CANARY = labtools.NODES[0]
FIGURES, figures = labtools.scenario_figures("rolling")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return labtools.write_inventory(tmp_path_factory.mktemp("inv") / "lab.yml")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("reports")


def deploy_under_load(inventory, strategy, version, report, app=ERLANG, label=None, **more):
    """The strategy's playbook (beamops.deploy.<strategy>) deploying app's sample tarball at version under
    load, its report written to report; the load and the report's step times go to the figures."""
    labtools.wait_servers_up()
    load = labtools.BackgroundLoad(400, "--concurrency", "6")
    report_var = f"{labtools.settings_prefix(strategy)}_report_path"
    extra_vars = labtools.deploy_vars(strategy, version, app=app, **{report_var: str(report)}, **more)
    result = labtools.run_playbook(f"beamops.deploy.{strategy}", inventory, extra_vars)
    summary = load.stop()
    steps = {}
    if Path(report).exists():
        steps = {
            h["host"]: {s["step"]: s["seconds"] for s in h["steps"]}
            for h in json.loads(Path(report).read_text())["hosts"]
        }
    FIGURES[label or f"beamops.deploy.{strategy} {version}"] = {
        **{k: summary[k] for k in ("ok", "failed", "errors", "latency_ms", "versions", "duration_s")},
        "steps": steps,
    }
    return result, summary


def current_link(node, app):
    return labtools.current_link(node, f"/opt/{app}")


def test_check_mode_prints_the_plan_and_changes_nothing(inventory, workdir):
    """`--check --diff`, the habit of every Ansible user before a change: a plan line per node (what runs,
    what it becomes, how, what leaves rotation), and no node, lock or member changed."""
    before = labtools.app_state()
    report = workdir / "rolling-check.json"
    result = labtools.run_playbook(
        "beamops.deploy.rolling",
        inventory,
        labtools.deploy_vars("rolling", "1.1.0", rolling_report_path=str(report)),
        options=("--check", "--diff"),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # The callback may fold a long message over lines (Molecule's YAML one does): read it unfolded.
    said = " ".join(result.stdout.split())
    for node in labtools.NODES:
        plan = f"plan: {node} (batch {node}): 1.0.0 -> 1.1.0 by cold upgrade (switch current, restart systemd"
        assert plan in said, result.stdout[-3000:]
        assert f"member {node} of beam_nodes leaves rotation on {labtools.LB} for its batch" in said
        assert current_link(node, ERLANG) == "releases/1.0.0"
        assert labtools.node_get(node, "/")["version"] == "1.0.0"
        for path in ("releases/1.1.0", ".beamops/deploy.lock", ".beamops/drained.json"):
            assert not labtools.path_exists(node, f"/opt/{ERLANG}/{path}"), path
    # The same OS process on every node (no restart), every member still in rotation, no report written.
    assert {n: pid for n, (pid, _count) in labtools.app_state().items()} == {
        n: pid for n, (pid, _count) in before.items()
    }
    assert set(labtools.admin_states().values()) == {"ready"}
    assert not report.exists()


def test_rolling_cold_deploy_keeps_every_request(inventory, workdir):
    report = workdir / "rolling-1.1.0.json"
    result, load = deploy_under_load(
        inventory,
        "rolling",
        "1.1.0",
        report,
        rolling_hooks={
            "after_ready": str(SCENARIO / "hooks" / "after_ready.yml"),
            # Relative to the directory ansible-playbook runs from (this test's), as a user gives it with -e.
            "before_preflight": os.path.relpath(SCENARIO / "hooks" / "preflight.yml"),
            "after_preflight": os.path.relpath(SCENARIO / "hooks" / "preflight.yml"),
        },
    )
    labtools.kept_every_request(result, load, "1.0.0", "1.1.0")
    for node in labtools.NODES:
        mark = labtools.podman_exec(node, "cat", "/tmp/beamops-after-ready-hook").stdout.split()
        assert mark == ["1.1.0", node]
        # Both preflight hooks ran on every node, in order, before anything was switched.
        marks = labtools.podman_exec(node, "cat", "/tmp/beamops-preflight-hooks").stdout.splitlines()
        assert marks == ["releases/1.0.0", "releases/1.0.0"], marks
    for node in labtools.NODES:
        assert labtools.node_get(node, "/")["version"] == "1.1.0"
        assert current_link(node, ERLANG) == "releases/1.1.0"
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}
    data = json.loads(report.read_text())
    assert data["outcome"] == "ok"
    assert [h["outcome"] for h in data["hosts"]] == ["deployed"] * 3
    assert [len(h["batch"]) for h in data["hosts"]] == [1, 1, 1]  # canary, 25 % of 3, the rest
    assert data["hosts"][0]["host"] == CANARY
    for host in data["hosts"]:
        assert (host["version_before"], host["version_after"]) == ("1.0.0", "1.1.0")
        assert [s["step"] for s in host["steps"]] == ["drain", "deploy", "probe", "ready"]
        # The probe waited for the restarted release to answer (its start phase) instead of counting the
        # refused connections of its boot: a healthy release fails no attempt.
        probe = host["steps"][2]["verdict"]
        assert probe["failures"] == 0 and probe["successes"] == 3 and probe["version"] == "1.1.0", probe


def test_rolling_rerun_is_a_no_op(inventory, workdir):
    report = workdir / "rolling-rerun.json"
    result = labtools.run_playbook(
        "beamops.deploy.rolling",
        inventory,
        labtools.deploy_vars("rolling", "1.1.0", rolling_report_path=str(report)),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    counters = labtools.recap(result.stdout)
    assert set(labtools.NODES) <= set(counters)
    assert all(c["changed"] == 0 for c in counters.values()), counters
    assert [h["outcome"] for h in json.loads(report.read_text())["hosts"]] == ["unchanged"] * 3


def test_hot_upgrade_in_place_keeps_pids_state_and_requests(inventory, workdir):
    before = labtools.app_state()
    result, load = deploy_under_load(inventory, "hot_upgrade", "1.2.0", workdir / "hot-1.2.0.json")
    labtools.kept_every_request(result, load)
    assert labtools.app_state_lost(before, "1.2.0", "map_v2") == []
    steps = [h["steps"] for h in json.loads((workdir / "hot-1.2.0.json").read_text())["hosts"]]
    assert all([s["step"] for s in host] == ["deploy", "probe"] for host in steps), steps
    # The tree made permanent on 1.2.0 in place is named after it, and current names it: a cold start
    # boots what current names.
    for node in labtools.NODES:
        assert current_link(node, ERLANG) == "releases/1.2.0"


def test_failed_probe_on_the_canary_rolls_it_back_and_stops_the_rollout(inventory, workdir):
    report = workdir / "rolling-unhealthy.json"
    untouched = {node: current_link(node, ERLANG) for node in labtools.NODES[1:]}
    result, load = deploy_under_load(
        inventory, "rolling", "1.1.0-unhealthy", report, rolling_probe_retries=3, rolling_probe_timeout=15
    )
    assert result.returncode != 0
    assert load["failed"] == 0, load["first_failures"]
    assert "1.1.0-unhealthy" not in load["versions"]
    data = json.loads(report.read_text())
    assert data["outcome"] == "rolled_back"
    assert [(h["host"], h["outcome"]) for h in data["hosts"]] == [(CANARY, "rolled_back")]
    assert "Probe" in data["hosts"][0]["error"] or "probe" in data["hosts"][0]["error"]
    assert labtools.node_get(CANARY, "/")["version"] == "1.2.0"
    assert current_link(CANARY, ERLANG) == "releases/1.2.0"  # back on the tree that runs 1.2.0
    for node, link in untouched.items():
        assert current_link(node, ERLANG) == link
        assert labtools.node_get(node, "/")["version"] == "1.2.0"
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}


def test_elixir_release_rolls_from_v1_to_v2(inventory, workdir):
    first = labtools.run_playbook(str(SCENARIO / "elixir_first.yml"), inventory, {})
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    result, load = deploy_under_load(inventory, "rolling", "2.0.0", workdir / "rolling-ex.json", app="beamops_ex")
    labtools.kept_every_request(result, load, "1.0.0", "2.0.0")
    for node in labtools.NODES:
        assert labtools.node_get(node, "/")["version"] == "2.0.0"


# --- Stock releases: as the generators wrote them, with the node role's defaults ---------------
STOCK_MIX = "stock_mix"
STOCK_REBAR3 = "stock_rebar3"


def switch_to_stock(inventory, app, version, replaces):
    """The node role (defaults: the app's own user, no cookie given) installs a stock release."""
    result = labtools.run_playbook(
        str(SCENARIO / "stock_first.yml"),
        inventory,
        {
            "stock_app": app,
            "stock_version": version,
            "stock_src": labtools.tarball(version, app),
            "stock_replaces": replaces,
        },
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    labtools.wait_servers_up()


def stock_info(node, app):
    """release_info as the app's own user: an independent reader of what the node runs."""
    args = {"name": app, "root": f"/opt/{app}"}
    return labtools.run_module(node, "beamops.deploy.release_info", args, become_user=app)


def stock_deploy(inventory, workdir, strategy, app):
    """A stock release from 0.1.0 to 0.2.0 by strategy under load: the run succeeds, no request is lost
    and both versions answer."""
    result, load = deploy_under_load(
        inventory,
        strategy,
        "0.2.0",
        workdir / f"{strategy}-{app}.json",
        app=app,
        label=f"{app} {strategy} 0.1.0 -> 0.2.0",
    )
    labtools.kept_every_request(result, load, "0.1.0", "0.2.0")


def unit_of_its_own_user(node, app):
    """The app's systemd unit is active and runs as the app's user; returns its properties."""
    identity = labtools.app_identity(node, f"/opt/{app}")
    assert (identity["user"], identity["service_manager"]) == (app, "systemd")
    unit = labtools.unit_properties(node, app, "MainPID", "User", "ActiveState")
    assert (unit["User"], unit["ActiveState"]) == (app, "active"), unit
    assert labtools.process_owner(node, unit["MainPID"]) == app
    return unit


def test_stock_mix_release_rolls_cold_as_generated(inventory, workdir):
    switch_to_stock(inventory, STOCK_MIX, "0.1.0", [ERLANG, "beamops_ex"])
    stock_deploy(inventory, workdir, "rolling", STOCK_MIX)
    for node in labtools.NODES:
        answer = labtools.node_get(node, "/")
        assert answer["version"] == "0.2.0"
        assert current_link(node, STOCK_MIX) == "releases/0.2.0"
        unit_of_its_own_user(node, STOCK_MIX)
        info = stock_info(node, STOCK_MIX)
        assert info["node"]["up"], info["node"]["unreachable_reason"]
        # mix's own random cookie, from the release: nobody gave the node role one.
        assert info["node"]["cookie_source"] == "release_cookie_file"
        assert (info["node"]["running_version"], info["node"]["os_pid"]) == ("0.2.0", answer["pid"])


def test_stock_rebar3_release_hot_upgrades_in_place(inventory, workdir):
    switch_to_stock(inventory, STOCK_REBAR3, "0.1.0", [ERLANG, "beamops_ex", STOCK_MIX])
    steady = labtools.run_load(5, "--concurrency", "6")
    FIGURES["stock_rebar3 0.1.0 steady"] = {
        k: steady[k] for k in ("ok", "failed", "errors", "latency_ms", "versions", "duration_s")
    }
    assert steady["failed"] == 0, steady["first_failures"]
    assert set(steady["versions"]) == {"0.1.0"}
    before = {}
    for node in labtools.NODES:
        info = stock_info(node, STOCK_REBAR3)
        assert info["node"]["up"], info["node"]["unreachable_reason"]
        # -setcookie as rebar3 wrote it in config/vm.args.
        assert info["node"]["cookie_source"] == "vm_args"
        before[node] = (labtools.node_get(node, "/"), unit_of_its_own_user(node, STOCK_REBAR3)["MainPID"])
    stock_deploy(inventory, workdir, "hot_upgrade", STOCK_REBAR3)
    for node, (answer, main_pid) in before.items():
        after = labtools.node_get(node, "/")
        assert after["version"] == "0.2.0"
        # The same OS process and the same server process state, carried through code_change.
        assert unit_of_its_own_user(node, STOCK_REBAR3)["MainPID"] == main_pid, f"{node} restarted"
        assert (after["pid"], after["started_at"]) == (answer["pid"], answer["started_at"])
        assert after["served"] > answer["served"]
        assert after["code_changes"] == answer["code_changes"] + 1
        info = stock_info(node, STOCK_REBAR3)
        assert (info["node"]["running_version"], info["node"]["permanent_version"]) == ("0.2.0", "0.2.0")
        assert info["cold_restart_boots_running"] is True, info["warnings_text"]


def test_no_module_wrote_an_erlang_cookie():
    for node in labtools.NODES:
        assert not labtools.path_exists(node, "/root/.erlang.cookie"), node
        for app in (STOCK_MIX, STOCK_REBAR3):
            home = labtools.app_identity(node, f"/opt/{app}")["home"]
            assert not labtools.path_exists(node, f"{home}/.erlang.cookie"), f"{node}: {home}/.erlang.cookie"
