# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary analysis from HAProxy's own counters, under live load, on one lab (issue 12).

The lab starts with node1..node3 on 1.0.0, all in rotation. In order, each test from the state the
one before left:
1. a rolling deploy of 1.1.0-flaky (healthy, but every 20th normal request answers 500) with
   rolling_analysis: the canary passes every probe, fails the analysis, is rolled back, the rollout
   stops, node2 and node3 are untouched, and the only failed requests are the canary's 500s;
2. a rolling deploy of 1.1.0 with rolling_analysis passes it and completes, 0 failed requests;
3. a blue-green deploy of 1.1.0-slow (300 ms more per request) to green (node3) with traffic steps
   [10, 50, 100] stops at its first step: all traffic back on blue, the weights as before, 0 failed;
4. a blue-green deploy of 1.2.0 to green with the step [50] passes it and switches, weights as before.
Figures go to .build/figures/<lab>-canary.json.
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
CANARY, OTHERS = labtools.NODES[0], labtools.NODES[1:]
BLUE, GREEN = labtools.NODES[:2], labtools.NODES[2:]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") or tempfile.mkdtemp(prefix="canary-"))
# The lab over SSH (groups beam_nodes and lb, and blue and green as in molecule.yml), as production runs.
INVENTORY = labtools.write_inventory(EPHEMERAL / "canary-inventory.yml", groups={"blue": BLUE, "green": GREEN})
# A tenth of the requests are slow (200-500 ms): a member taken out before its sessions end cuts some.
LOAD = ("--concurrency", "6", "--slow-ratio", "0.1")
# Short bakes keep the scenario short; the load gives each side well over min_requests in them.
WINDOW_S = 10
# With a tenth of the requests 200-500 ms, the mean of a 10 s window moves by a fifth either way from
# sampling alone, so the default max_latency_ratio 1.5 fails a good release now and then (one run
# measured 45.2 ms on the canary against 26.5 ms on the others, x1.7, for the same code). 2.0 still
# fails the slow release (x8 and more) on its latency, which the slow-release test checks.
LATENCY_RATIO = 2.0
FIGURES, figures = labtools.scenario_figures("canary")


def tarball(version: str) -> str:
    return f"{labtools.RELEASES_DIR}/{labtools.APP}-{version}.tar.gz"


def rolling_vars(version: str, report: Path, **more) -> dict:
    """A rolling deploy of ``version`` on this lab with the canary analysis, its report at ``report``; and ``more``."""
    return {
        "rolling_app_name": labtools.APP,
        "rolling_version": version,
        "rolling_src": tarball(version),
        "rolling_report_path": str(report),
        "rolling_analysis": True,
        "rolling_analysis_window_s": WINDOW_S,
        "rolling_analysis_max_latency_ratio": LATENCY_RATIO,
    } | more


def blue_green_vars(version: str, report: Path, **more) -> dict:
    """A blue-green deploy of ``version`` to this lab's green colour, its report at ``report``; and ``more``."""
    return {
        "blue_green_app_name": labtools.APP,
        "blue_green_app_root": labtools.APP_ROOT,
        "blue_green_version": version,
        "blue_green_src": tarball(version),
        "blue_green_lb_group": LAB_VARS["lab_lb_group"],
        "blue_green_lb_backends": [BACKEND],
        "blue_green_lb_probe_url": f"http://127.0.0.1:{LAB_VARS['lab_haproxy_http_port']}/",
        "blue_green_probe_successes": 2,
        "blue_green_probe_interval": 0.5,
        "blue_green_analysis_max_latency_ratio": LATENCY_RATIO,
        "blue_green_report_path": str(report),
    } | more


def playbook(name: str, report: Path, extra: dict) -> subprocess.CompletedProcess:
    """ansible-playbook beamops.deploy.<name> on this scenario's inventory (groups beam_nodes, lb, blue, green)."""
    report.unlink(missing_ok=True)
    run = labtools.run_playbook(f"beamops.deploy.{name}", INVENTORY, extra)
    (EPHEMERAL / f"last-{report.stem}.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    return run


def under_load(name: str, report: Path, extra: dict) -> tuple[subprocess.CompletedProcess, dict, list[dict], float]:
    """A playbook run under load through HAProxy: (run, load summary, request records, wall start)."""
    labtools.wait_servers_up(tuple(n for n, s in admin_states().items() if s == "ready"))
    records = EPHEMERAL / f"requests-{report.stem}.jsonl"
    load = labtools.BackgroundLoad(900, *LOAD, "--records", str(records))
    wall0 = time.time()
    time.sleep(1)  # some traffic before anything changes
    try:
        run = playbook(name, report, extra)
        time.sleep(1)  # and some after
    finally:
        summary = load.stop()
    lines = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    return run, summary, lines, wall0


def said(run: subprocess.CompletedProcess) -> str:
    """Everything the run printed, whitespace collapsed (long messages wrap)."""
    return " ".join((run.stdout + run.stderr).split())


def admin_states() -> dict[str, str]:
    """Each member's admin state (ready, drain or maint) read from HAProxy without the collection's modules."""
    bits = {name: int(row["srv_admin_state"]) for name, row in labtools.servers_state(BACKEND).items()}
    return {name: "maint" if b & 0x1 else "drain" if b & 0x8 else "ready" for name, b in bits.items()}


def weights() -> dict[str, int]:
    return {name: int(row["srv_uweight"]) for name, row in labtools.servers_state(BACKEND).items()}


def pids() -> dict[str, int]:
    return {node: labtools.node_get(node, "/pid")["pid"] for node in labtools.NODES}


def versions() -> dict[str, str]:
    return {node: labtools.node_get(node, "/")["version"] for node in labtools.NODES}


def load_figures(summary: dict) -> dict:
    return {k: summary[k] for k in ("requests", "ok", "failed", "errors", "versions", "duration_s", "rps")} | {
        "p99_ms": summary["latency_ms"]["p99"]
    }


def analysis_figures(analysis: dict, *keys: str) -> dict:
    """What the figures keep of a canary analysis: its ``keys``, then the new and the old side's figures."""
    return {k: analysis[k] for k in keys} | {side: analysis["figures"][side] for side in ("new", "old")}


def step_figures(step: dict, *keys: str) -> dict:
    """What the figures keep of a blue-green traffic step: its share and weights, then its analysis' ``keys``."""
    return {k: step[k] for k in ("percent", "share", "weights", "seconds")} | analysis_figures(step["analysis"], *keys)


def test_lab_starts_on_1_0_0_all_in_rotation():
    assert set(admin_states().values()) == {"ready"}
    assert set(versions().values()) == {"1.0.0"}


def test_flaky_release_fails_the_canary_analysis_and_only_the_canary_fails_requests(capsys):
    report = EPHEMERAL / "rolling-flaky.json"
    before = pids()
    run, summary, records, _ = under_load("rolling", report, rolling_vars("1.1.0-flaky", report))
    FIGURES["rolling_flaky"] = load_figures(summary)
    assert run.returncode != 0, run.stdout[-4000:]
    message = said(run)
    assert f"rolling: canary analysis of 1.1.0-flaky on {CANARY} fail:" in message, message[-4000:]
    data = json.loads(report.read_text())
    # The rollout stopped at the canary: no other host has a record.
    assert data["outcome"] == "rolled_back"
    assert [(h["host"], h["outcome"]) for h in data["hosts"]] == [(CANARY, "rolled_back")]
    steps = {s["step"]: s for s in data["hosts"][0]["steps"]}
    # Every probe passed: the analysis is what stopped it, on the error ratio.
    assert "probe" in steps and "analysis" in steps, steps.keys()
    analysis = steps["analysis"]["analysis"]
    FIGURES["rolling_flaky"]["analysis"] = analysis_figures(analysis, "verdict", "reasons")
    assert analysis["verdict"] == "fail" and analysis["figures"]["checks"]["error_ratio"]["result"] == "fail"
    assert analysis["figures"]["new"]["servers"] == [CANARY]
    assert 0.02 < analysis["figures"]["new"]["error_ratio"] < 0.08, analysis["figures"]["new"]
    # The canary is back on 1.0.0, everyone in rotation; node2 and node3 never restarted.
    assert versions() == dict.fromkeys(labtools.NODES, "1.0.0")
    after = pids()
    assert {n: after[n] for n in OTHERS} == {n: before[n] for n in OTHERS}
    assert after[CANARY] != before[CANARY]
    assert set(admin_states().values()) == {"ready"}
    assert {row["status"] for row in labtools.wait_servers_up().values()} == {"UP"}
    # The load generator's view: every failed request is a 500 the canary answered on 1.1.0-flaky,
    # and there are as many as its fault rule says (every 20th normal request it served), no more.
    failed = [r for r in records if r["outcome"] != "ok"]
    flaky_node = {r["node"] for r in records if r["version"] == "1.1.0-flaky"}
    flaky_normal = [r for r in records if r["version"] == "1.1.0-flaky" and not r["path"].startswith("/slow")]
    ratio = len(failed) / len(records)
    FIGURES["rolling_flaky"] |= {
        "failed_by_the_canary": len(failed),
        "failed_ratio_to_all_requests": round(ratio, 5),
        "canary_normal_requests": len(flaky_normal),
    }
    with capsys.disabled():
        print(
            f"\ncanary: flaky canary served {len(failed)} failed requests of {len(records)} in all "
            f"({ratio:.3%}); {len(flaky_normal)} normal requests answered by 1.1.0-flaky"
        )
    assert failed, "the flaky canary failed no request: the analysis had nothing to see"
    assert all(r["outcome"] == "status_500" and r["version"] == "1.1.0-flaky" for r in failed), failed[:5]
    assert len(flaky_node) == 1 and {r["node"] for r in failed} == flaky_node
    assert abs(len(failed) - len(flaky_normal) // 20) <= 2, (len(failed), len(flaky_normal))
    assert ratio < 0.03, ratio
    # Only while the canary ran 1.1.0-flaky: before the run started, and after it ended, no failure.
    run_end = max(r["t"] for r in records if r["version"] == "1.1.0-flaky")
    assert all(r["t"] <= run_end for r in failed)


def test_good_release_passes_the_analysis_and_completes():
    report = EPHEMERAL / "rolling-good.json"
    run, summary, _, _ = under_load(
        "rolling",
        report,
        # Once the canary passed, the two other nodes in one batch: a shorter scenario.
        rolling_vars("1.1.0", report, beamops_max_unavailable=2),
    )
    FIGURES["rolling_good"] = load_figures(summary)
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    data = json.loads(report.read_text())
    assert data["outcome"] == "ok"
    assert [h["outcome"] for h in data["hosts"]] == ["deployed"] * 3
    assert [len(h["batch"]) for h in data["hosts"]] == [1, 2, 2]
    verdicts = [s["analysis"] for h in data["hosts"] for s in h["steps"] if s["step"] == "analysis"]
    # The canary batch only (rolling_analysis_every_batch is false), and it passed on its figures.
    assert [v["verdict"] for v in verdicts] == ["pass"], verdicts
    assert verdicts[0]["figures"]["new"]["requests"] >= 100
    FIGURES["rolling_good"]["analysis"] = analysis_figures(verdicts[0])
    assert versions() == dict.fromkeys(labtools.NODES, "1.1.0")
    assert set(admin_states().values()) == {"ready"}


def test_blue_green_traffic_shift_stops_at_its_first_step_for_the_slow_release():
    # Green (node3) out of rotation: blue (node1, node2) active, all on 1.1.0.
    for node in GREEN:
        labtools.set_member_state(node, "maint", backend=BACKEND)
    before = weights()
    report = EPHEMERAL / "blue-green-slow.json"
    run, summary, records, wall0 = under_load(
        "blue_green",
        report,
        blue_green_vars(
            "1.1.0-slow",
            report,
            blue_green_traffic_steps=[10, 50, 100],
            # A tenth of the traffic, slowed down: far fewer requests than a canary of a third gets
            # (about 8 a second here), so a longer window and a lower minimum.
            blue_green_analysis_window_s=WINDOW_S + 2,
            blue_green_analysis_min_requests=40,
        ),
    )
    FIGURES["blue_green_slow"] = load_figures(summary)
    assert run.returncode != 0, run.stdout[-4000:]
    message = said(run)
    assert "analysis of 1.1.0-slow on the green colour" in message and "at 10 % of the traffic fail:" in message, (
        message[-4000:]
    )
    assert "(step_failed)" in message and "Traffic is on the blue colour" in message, message[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    data = json.loads(report.read_text())
    assert data["outcome"] == "step_failed" and data["serving_colour"] == "blue"
    assert [s["step"] for s in data["steps"]] == ["preflight", "deploy", "probe", "traffic", "switch_back"]
    step = data["steps"][3]
    FIGURES["blue_green_slow"]["step"] = step_figures(step, "verdict", "reasons")
    assert (step["percent"], step["share"], step["weights"]) == (10, 10.0, {"old": 90, "new": 20})
    assert step["analysis"]["verdict"] == "fail"
    assert step["analysis"]["figures"]["checks"]["latency_ratio"]["result"] == "fail"
    # The slow release served its share of the requests while it was in rotation (HAProxy counts by
    # request, whatever they take), none before the step, none once traffic went back.
    start = data["started"] + sum(s["seconds"] for s in data["steps"][:3]) - wall0
    back = start + step["seconds"] + data["steps"][4]["seconds"]
    slow = [r["t"] for r in records if r["version"] == "1.1.0-slow"]
    assert slow and start - 1.0 <= min(slow) and max(slow) <= back + 1.0, (start, back, min(slow), max(slow))
    in_rotation = [r for r in records if min(slow) <= r["t"] <= max(slow)]
    share = len(slow) / len(in_rotation)
    FIGURES["blue_green_slow"]["slow_share_in_rotation"] = round(share, 4)
    assert 0.05 < share < 0.15, share
    # All traffic on blue, green out of rotation, every weight as before, versions as they were.
    assert admin_states() == {**dict.fromkeys(BLUE, "ready"), **dict.fromkeys(GREEN, "maint")}
    assert weights() == before
    assert versions() == {**dict.fromkeys(BLUE, "1.1.0"), **dict.fromkeys(GREEN, "1.1.0-slow")}
    assert labtools.run_load(3, *LOAD)["versions"].keys() == {"1.1.0"}
    text = report.with_suffix(".md").read_text()
    assert "a traffic step failed" in text and "| 10 % | 10.0 % | 90/20 | **fail** |" in text, text


def test_blue_green_traffic_steps_that_pass_end_in_the_switch():
    # From the state the step that failed left: blue on 1.1.0 serving, green (node3) on 1.1.0-slow in
    # maintenance. 1.2.0 to green, half the traffic first, then the switch.
    before = weights()
    report = EPHEMERAL / "blue-green-good.json"
    run, summary, _, _ = under_load(
        "blue_green",
        report,
        blue_green_vars("1.2.0", report, blue_green_traffic_steps=[50], blue_green_analysis_window_s=WINDOW_S - 2),
    )
    FIGURES["blue_green_good"] = load_figures(summary)
    assert run.returncode == 0, run.stdout[-4000:]
    assert summary["failed"] == 0, summary["first_failures"]
    data = json.loads(report.read_text())
    assert data["outcome"] == "switched" and data["serving_colour"] == "green"
    assert [s["step"] for s in data["steps"]] == ["preflight", "deploy", "probe", "traffic", "switch", "verify"]
    step = data["steps"][3]
    FIGURES["blue_green_good"]["step"] = step_figures(step, "verdict")
    assert (step["percent"], step["share"], step["weights"]) == (50, 50.0, {"old": 50, "new": 100})
    assert step["analysis"]["verdict"] == "pass", step["analysis"]["reasons"]
    # Switched: green alone in rotation, blue in maintenance, every weight as before the run.
    assert admin_states() == {**dict.fromkeys(BLUE, "maint"), **dict.fromkeys(GREEN, "ready")}
    assert weights() == before
    assert versions() == {**dict.fromkeys(BLUE, "1.1.0"), **dict.fromkeys(GREEN, "1.2.0")}
    assert labtools.run_load(3, *LOAD)["versions"].keys() == {"1.2.0"}
    text = report.with_suffix(".md").read_text()
    assert "| 50 % | 50.0 % | 50/100 | **pass** |" in text, text


# The fourth check of issue 12 (a rolling deploy stopped after its second batch, rolled back across
# the fleet under load with 0 failed requests) is test_rollout_control.py, run after this file.
