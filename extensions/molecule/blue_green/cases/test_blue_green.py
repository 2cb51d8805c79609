# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blue_green role through its playbooks, run as a user runs them, under live load.

The lab starts with blue (node1, node2) active on 1.0.0 and green (node3) idle in maintenance.
The tests run in order, each from the state the previous one left: a refused input changes
nothing; `--check` prints the plan and changes nothing (the rollback's too); 1.1.0 goes to
green and traffic switches with no failed request; a re-run changes nothing; `rollback`
switches back to blue; a release failing its direct probe never gets traffic and its node
goes back to the version it ran; a probe through HAProxy failing after the switch
switches back by itself. Figures go to .build/figures/<lab>-blue_green.json.
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
BACKEND = LAB_VARS["lab_haproxy_backend"]
BLUE, GREEN = labtools.NODES[:2], labtools.NODES[2:]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or tempfile.mkdtemp(prefix="blue_green-"))
# The lab over SSH (groups beam_nodes and lb, and blue and green as in molecule.yml), as production runs.
INVENTORY = labtools.write_inventory(EPHEMERAL / "blue_green-inventory.yml", groups={"blue": BLUE, "green": GREEN})
# A third of the requests are slow (200-500 ms): a member taken out before its sessions end cuts some.
LOAD = ("--concurrency", "8", "--slow-ratio", "0.3")
FIGURES, figures = labtools.scenario_figures("blue_green")


def playbook(
    name: str, version: str | None = None, options: tuple = (), **extra
) -> tuple[subprocess.CompletedProcess, dict | None]:
    """ansible-playbook beamops.deploy.<name> (with options) on this scenario's inventory; returns the run and
    its report."""
    report = EPHEMERAL / f"report-{name}.json"
    report.unlink(missing_ok=True)
    extra_vars = {
        "blue_green_app_name": labtools.APP,
        "blue_green_app_root": labtools.APP_ROOT,
        "blue_green_lb_group": LAB_VARS["lab_lb_group"],
        "blue_green_lb_backends": [BACKEND],
        "blue_green_lb_probe_url": f"http://127.0.0.1:{LAB_VARS['lab_haproxy_http_port']}/",
        "blue_green_probe_successes": 2,
        "blue_green_probe_interval": 0.5,
        "blue_green_probe_retries": 3,
        "blue_green_report_path": str(report),
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    if version is not None:
        extra_vars["blue_green_version"] = version
        extra_vars["blue_green_src"] = f"{labtools.RELEASES_DIR}/{labtools.APP}-{version}.tar.gz"
    extra_vars.update(extra)
    argv = ["ansible-playbook", *options, "-i", str(INVENTORY), f"beamops.deploy.{name}", "-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
    (EPHEMERAL / f"last-{name}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    return run, (json.loads(report.read_text()) if report.exists() else None)


def said(run: subprocess.CompletedProcess) -> str:
    """Everything the run printed (errors go to stderr), whitespace collapsed (long messages wrap)."""
    return " ".join((run.stdout + run.stderr).split())


def admin_states() -> dict[str, str]:
    """Independent read of each member's admin state: ready, drain or maint."""
    bits = {name: int(row["srv_admin_state"]) for name, row in labtools.servers_state(BACKEND).items()}
    return {name: "maint" if b & 0x1 else "drain" if b & 0x8 else "ready" for name, b in bits.items()}


def node_version(node: str) -> str:
    """The version the node answers on its own port, read inside its container."""
    url = f"http://127.0.0.1:{LAB_VARS['lab_node_http_port']}/"
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).headers['x-beamops-version'])"
    return labtools.podman_exec(node, "python3", "-c", code).stdout.strip()


def colour_states() -> dict[str, set[str]]:
    states = admin_states()
    return {"blue": {states[n] for n in BLUE}, "green": {states[n] for n in GREEN}}


def under_load(name: str, version: str | None = None, **extra) -> tuple:
    """A playbook run under load through HAProxy: (run, report, load summary, request records, wall start)."""
    records = EPHEMERAL / f"requests-{name}-{version}.jsonl"
    load = labtools.BackgroundLoad(900, *LOAD, "--records", str(records))
    wall0 = time.time()
    time.sleep(2)  # some traffic before anything changes
    try:
        run, report = playbook(name, version, **extra)
        time.sleep(2)  # and some after
    finally:
        summary = load.stop()
    lines = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    return run, report, summary, lines, wall0


def step_window(report: dict, step: str) -> tuple[float, float]:
    """Wall-clock start and end of a step of the report."""
    start = report["started"]
    for item in report["steps"]:
        if item["step"] == step:
            return start, start + item["seconds"]
        start += item["seconds"]
    raise AssertionError(f"no step {step} in {report['steps']}")


def load_figures(summary: dict, report: dict | None) -> dict:
    return {
        "requests": summary["requests"],
        "failed": summary["failed"],
        "errors": summary["errors"],
        "versions": summary["versions"],
        "p99_ms": summary["latency_ms"]["p99"],
        "outcome": report and report["outcome"],
        "seconds": report and report["seconds"],
        "steps": report and {s["step"]: s["seconds"] for s in report["steps"]},
    }


def test_lab_starts_blue_active_green_idle():
    assert colour_states() == {"blue": {"ready"}, "green": {"maint"}}
    assert {node_version(n) for n in labtools.NODES} == {"1.0.0"}


def test_bad_input_fails_before_any_change():
    before = admin_states()
    run, report = playbook("blue_green", "1.1.0", blue_green_version="1.1.0/../etc")
    assert run.returncode != 0
    assert "blue_green_version (letters, digits and . _ + ~ -, got '1.1.0/../etc')" in said(run), said(run)[-3000:]
    run2, _ = playbook("blue_green", "1.1.0", blue_green_green_group="no_such_group")
    assert run2.returncode != 0
    assert "blue_green_green_group ('no_such_group') must be two disjoint" in said(run2), said(run2)[-3000:]
    # A damaged tarball (one byte flipped) is refused on the control node, as the rolling strategy refuses it.
    damaged = EPHEMERAL / "damaged" / f"{labtools.APP}-1.1.0.tar.gz"
    damaged.parent.mkdir(exist_ok=True)
    data = bytearray(Path(labtools.RELEASES_DIR, f"{labtools.APP}-1.1.0.tar.gz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    run3, _ = playbook("blue_green", "1.1.0", blue_green_src=str(damaged))
    assert run3.returncode != 0
    assert f"refused before any change, on every node: {damaged} is damaged" in said(run3), said(run3)[-3000:]
    # A bound that is not a count or a percentage from 1 is refused, naming the option (it was taken as 1).
    run4, _ = playbook("blue_green", "1.1.0", blue_green_max_unavailable="0%")
    assert run4.returncode != 0
    refused = "blue_green_max_unavailable (a count or a percentage such as 25%, got '0%')"
    assert refused in said(run4), said(run4)[-3000:]
    assert report is None
    assert admin_states() == before
    assert {node_version(n) for n in labtools.NODES} == {"1.0.0"}
    runs = (run, run2, run3, run4)
    assert all(c.get("changed", 0) == 0 for r in runs for c in labtools.recap(r.stdout).values())


def test_check_mode_prints_the_plan_and_changes_nothing():
    """`--check --diff`: the plan (which colour gets the version, which members leave rotation where), and no
    node, member or report changed."""
    before, processes = admin_states(), labtools.app_state()
    run, report = playbook("blue_green", "1.1.0", options=("--check", "--diff"))
    assert run.returncode == 0, said(run)[-3000:]
    text = said(run)
    green = ", ".join(f"{n}: 1.0.0 -> 1.1.0" for n in GREEN)
    plan = f"plan: {labtools.APP} 1.1.0: deploy to the idle green colour ({green}), probe each of its nodes"
    assert plan in text, text[-3000:]
    assert (
        f"then switch {labtools.LB} from the blue colour ({', '.join(BLUE)} leave rotation) to the green colour "
        f"({', '.join(GREEN)}), and probe through the load balancers" in text
    ), text[-3000:]
    assert "the blue colour keeps 1.0.0 for the rollback" in text
    assert report is None
    assert admin_states() == before
    # The same OS process on every node, never restarted (app_state's counters move: compare the pids).
    pids = {n: pid for n, (pid, _c) in processes.items()}
    assert {n: pid for n, (pid, _c) in labtools.app_state().items()} == pids
    for node in labtools.NODES:
        assert labtools.current_link(node) == "releases/1.0.0"
        assert not labtools.path_exists(node, f"{labtools.APP_ROOT}/releases/1.1.0")
    assert {node_version(n) for n in labtools.NODES} == {"1.0.0"}


def test_deploy_switches_to_green_under_load():
    run, report, summary, records, wall0 = under_load("blue_green", "1.1.0")
    FIGURES["deploy_1.1.0"] = load_figures(summary, report)
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    assert report["outcome"] == "switched" and report["from_colour"] == "blue" and report["to_colour"] == "green"
    assert [s["step"] for s in report["steps"]] == ["preflight", "deploy", "probe", "switch", "verify"]
    nodes = {n["host"]: n for n in report["nodes"]}
    assert {h: (n["version_before"], n["version_after"]) for h, n in nodes.items()} == {
        BLUE[0]: ("1.0.0", "1.0.0"),
        BLUE[1]: ("1.0.0", "1.0.0"),
        GREEN[0]: ("1.0.0", "1.1.0"),
    }
    # Through HAProxy: 1.1.0 only once the switch began, 1.0.0 only until it ended (1 s for clock skew).
    switch_start, switch_end = step_window(report, "switch")
    new = [wall0 + r["t"] for r in records if r["version"] == "1.1.0"]
    old = [wall0 + r["t"] for r in records if r["version"] == "1.0.0"]
    assert new and old
    assert min(new) >= switch_start - 1.0, min(new) - switch_start
    assert max(old) <= switch_end + 1.0, max(old) - switch_end
    FIGURES["deploy_1.1.0"]["old_answers_after_switch_start_s"] = round(max(old) - switch_start, 2)
    # The old colour is kept, out of rotation, on its version: ready for an instant switch back.
    assert colour_states() == {"blue": {"maint"}, "green": {"ready"}}
    assert [node_version(n) for n in labtools.NODES] == ["1.0.0", "1.0.0", "1.1.0"]
    assert labtools.run_load(3, *LOAD)["versions"].keys() == {"1.1.0"}


def test_rerun_of_the_same_version_changes_nothing():
    before = admin_states()
    run, report = playbook("blue_green", "1.1.0")
    assert run.returncode == 0, run.stdout[-4000:]
    counters = labtools.recap(run.stdout)
    FIGURES["rerun_1.1.0"] = {"changed": {h: c["changed"] for h, c in counters.items()}, "seconds": report["seconds"]}
    # The nodes, and the control node's play that reads the host pattern (it changes nothing either).
    assert set(counters) == {*labtools.NODES, "localhost"}
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counters.values()), counters
    assert report["outcome"] == "unchanged"
    assert admin_states() == before
    # The readable summary beside the JSON, at the path the run printed.
    _, summary = labtools.run_report(run.stdout)
    assert summary == EPHEMERAL / "report-blue_green.md"
    assert summary.read_text().startswith("# beamops_sample 1.1.0: blue-green deploy, nothing to do")


def test_rollback_in_check_mode_prints_the_plan_and_changes_nothing():
    before = admin_states()
    run, report = playbook("rollback", options=("--check",))
    assert run.returncode == 0, said(run)[-3000:]
    blue = ", ".join(f"{n}: 1.0.0" for n in BLUE)
    plan = (
        f"plan: switch {labtools.LB} back from the green colour ({', '.join(GREEN)} leave rotation) to the blue "
        f"colour ({blue}), after probing each of its nodes"
    )
    assert plan in said(run), said(run)[-3000:]
    assert report is None and admin_states() == before
    assert colour_states() == {"blue": {"maint"}, "green": {"ready"}}


def test_rollback_switches_back_under_load():
    run, report, summary, records, wall0 = under_load("rollback")
    FIGURES["rollback"] = load_figures(summary, report)
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    assert report["outcome"] == "rolled_back" and report["to_colour"] == "blue" and report["version"] == "1.0.0"
    text = labtools.run_report(run.stdout)[1].read_text()
    assert "blue-green rollback, switched back" in text and "now served by **blue**" in text, text
    assert "[WARNING]" not in run.stdout + run.stderr, run.stdout[-4000:]
    switch_start, switch_end = step_window(report, "switch")
    new = [wall0 + r["t"] for r in records if r["version"] == "1.1.0"]
    old = [wall0 + r["t"] for r in records if r["version"] == "1.0.0"]
    assert old and min(old) >= switch_start - 1.0 and max(new) <= switch_end + 1.0
    assert colour_states() == {"blue": {"ready"}, "green": {"maint"}}
    assert [node_version(n) for n in labtools.NODES] == ["1.0.0", "1.0.0", "1.1.0"]
    assert labtools.run_load(3, *LOAD)["versions"].keys() == {"1.0.0"}


def test_unhealthy_release_fails_its_direct_probe_and_never_gets_traffic():
    run, report, summary, _, _ = under_load("blue_green", "1.1.0-unhealthy", blue_green_probe_timeout=10)
    FIGURES["unhealthy_before_switch"] = load_figures(summary, report)
    assert run.returncode != 0
    message = said(run)
    # Its direct probe is the deploy stage's one call to the node (no hook between the deploy and the probe).
    assert f"(failed_before_switch): {GREEN[0]}: Switch, restart and probe the node" in message, message[-4000:]
    assert "http probe of http://127.0.0.1:" in message, message[-4000:]
    assert "Traffic is on the blue colour" in message, message[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    assert summary["versions"].keys() == {"1.0.0"}
    assert report["outcome"] == "failed_before_switch" and report["serving_colour"] == "blue"
    assert "switch" not in [s["step"] for s in report["steps"]]
    assert colour_states() == {"blue": {"ready"}, "green": {"maint"}}
    # The green node is back on the version it ran before the failed deploy.
    assert node_version(GREEN[0]) == "1.1.0"
    assert {n["host"]: n["version_after"] for n in report["nodes"]}[GREEN[0]] == "1.1.0"


def test_probe_failing_after_the_switch_switches_back_by_itself():
    # A post-switch check that the new release fails: the counter must keep its integer state shape,
    # which 1.1.0 changes to a map. Green (1.1.0) passes its direct probe, takes the traffic, fails this
    # check through HAProxy, and blue (1.0.0) gets the traffic back.
    # A before_probe hook splits the deploy and the probe into calls of their own, and runs between them.
    hook = EPHEMERAL / "before_probe.yml"
    hook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Ask the node which version serves, between its deploy and its probe",
                    "ansible.builtin.uri": {"url": "http://127.0.0.1:{{ blue_green_http_port }}/"},
                    "register": "hook_answer",
                },
                {
                    "name": "Keep what it said on the control node",
                    "ansible.builtin.copy": {
                        "content": "{{ hook_answer.x_beamops_version }}",
                        "dest": str(EPHEMERAL / "before_probe-{{ inventory_hostname }}"),
                        "mode": "0644",
                    },
                    "delegate_to": "localhost",
                },
            ]
        )
    )
    for old in EPHEMERAL.glob("before_probe-*"):
        old.unlink()
    run, report, summary, _, _ = under_load(
        "blue_green",
        "1.1.0",
        blue_green_hooks={"before_probe": str(hook)},
        blue_green_lb_probe_url=f"http://127.0.0.1:{LAB_VARS['lab_haproxy_http_port']}/counter/value",
        blue_green_lb_probe_body_regex='"state_shape":"integer"',
        blue_green_lb_probe_retries=2,
        blue_green_lb_probe_timeout=10,
    )
    FIGURES["post_switch_probe_failure"] = load_figures(summary, report)
    assert run.returncode != 0
    message = said(run)
    assert "(switched_back): Probe through each load balancer" in message, message[-4000:]
    assert "Traffic is on the blue colour" in message, message[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    assert report["outcome"] == "switched_back" and report["serving_colour"] == "blue"
    assert [s["step"] for s in report["steps"]] == ["preflight", "deploy", "probe", "switch", "switch_back"]
    assert colour_states() == {"blue": {"ready"}, "green": {"maint"}}
    assert labtools.run_load(3, *LOAD)["versions"].keys() == {"1.0.0"}
    # Green took the traffic between the switch and the switch back, then lost it again.
    assert summary["versions"].get("1.1.0", 0) > 0
    assert {p.name: p.read_text() for p in EPHEMERAL.glob("before_probe-*")} == {f"before_probe-{GREEN[0]}": "1.1.0"}
