# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the demo deploys under live load through the lab's HAProxy and prints the report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import labtools
import timeline

APP = labtools.APP


def group_batches(report: dict) -> list[list[dict]]:
    """The host records of a rolling/hot_upgrade report, grouped by their batch."""
    groups: dict[tuple, list] = {}
    for host in report["hosts"]:
        groups.setdefault(tuple(host["batch"]), []).append(host)
    return list(groups.values())


def batches(report: dict) -> list[dict]:
    """Per-batch timings from a rolling/hot_upgrade report."""
    out = []
    for hosts in group_batches(report):
        start = min(h["started"] for h in hosts)
        end = max(h["started"] + h["seconds"] for h in hosts)
        out.append(
            {
                "hosts": [h["host"] for h in hosts],
                "seconds": round(end - start, 2),
                "outcomes": sorted({h["outcome"] for h in hosts}),
                "steps": {h["host"]: {s["step"]: s["seconds"] for s in h["steps"]} for h in hosts},
            }
        )
    return out


def deploy(name: str, playbook: str, extra: dict, inventory: Path, out: Path, load_started: float) -> dict:
    """Run one deploy as a user would (reports named after the run in `out`); its report and timings."""
    # Both playbooks run the rolling flow (a hot upgrade with rolling_method=hot) and take its variables.
    extra = {**extra, "rolling_report_dir": str(out)}
    t0 = time.time()
    started = time.monotonic()
    result = labtools.run_playbook(playbook, inventory, extra)
    seconds = round(time.monotonic() - started, 1)
    t1 = time.time()
    (out / f"{name}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    # The run prints where its reports are: the last "JSON: <path>" and "Report: <path>" lines.
    said = labtools.report_paths(result.stdout or "")
    report_path = said.get("JSON")
    report = json.loads(report_path.read_text()) if report_path and report_path.exists() else {"hosts": []}
    ok = result.returncode == 0
    print(f"   {name}: {'ok' if ok else 'FAILED (see ' + str(out / (name + '.log')) + ')'} in {seconds} s")
    if said.get("Report"):
        print(f"   report: {said['Report']}")
    marks = sorted({min(h["started"] for h in b) for b in group_batches(report)})
    return {
        "playbook": playbook,
        "ok": ok,
        "seconds": seconds,
        "batches": batches(report),
        "report": report,
        "report_md": str(said.get("Report", "")),
        "report_json": str(report_path or ""),
        "window": [t0 - load_started, t1 - load_started],
        "marks": [m - load_started for m in marks],
        "warnings": [line.strip() for line in (result.stdout + result.stderr).splitlines() if "[WARNING]" in line],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="directory for the JSON report and logs")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    inventory = labtools.write_inventory(out / "inventory.yml")
    tarball = f"{labtools.RELEASES_DIR}/{APP}-{{}}.tar.gz".format

    labtools.wait_servers_up()
    records = out / "requests.jsonl"
    load_started = time.time()
    load = labtools.BackgroundLoad(900, "--concurrency", "6", "--records", str(records))
    time.sleep(2)
    steps = {
        "rolling_1.1.0": deploy(
            "rolling_1.1.0",
            "beamops.deploy.rolling",
            {"rolling_app_name": APP, "rolling_version": "1.1.0", "rolling_src": tarball("1.1.0")},
            inventory,
            out,
            load_started,
        ),
        "hot_upgrade_1.2.0": deploy(
            "hot_upgrade_1.2.0",
            "beamops.deploy.hot_upgrade",
            {"rolling_app_name": APP, "rolling_version": "1.2.0", "rolling_src": tarball("1.2.0")},
            inventory,
            out,
            load_started,
        ),
    }
    time.sleep(2)
    summary = load.stop()
    nodes = {}
    for node in labtools.NODES:
        answer = labtools.node_get(node, "/counter/value")
        nodes[node] = {
            "version": answer["version"],
            "state_shape": answer.get("state_shape"),
            "os_pid": labtools.node_get(node, "/pid")["pid"],
        }
    picture = timeline.write_svg(
        [
            {
                "records": str(records),
                "deploys": [[*step["window"], name] for name, step in steps.items()],
                "marks": [
                    [m, f"{name}: batch {i}"] for name, step in steps.items() for i, m in enumerate(step["marks"], 1)
                ],
            }
        ],
        out / "timeline.svg",
        title="make demo: requests per second through HAProxy by version served; failures below the axis",
    )
    report = {"load": summary, "deploys": steps, "nodes": nodes, "timeline": str(picture)}
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    lat = summary["latency_ms"]
    print(
        f"\nrequests served: {summary['ok']}, failed: {summary['failed']} over {summary['duration_s']} s "
        f"({summary['rps']} req/s); latency ms p50 {lat['p50']}, p99 {lat['p99']}, max {lat['max']}"
    )
    print(f"answers by version: {summary['versions']}")
    for name, step in steps.items():
        print(f"{name}: {step['seconds']} s")
        for i, batch in enumerate(step["batches"], 1):
            detail = "; ".join(
                f"{h} " + ", ".join(f"{k} {v} s" for k, v in s.items()) for h, s in batch["steps"].items()
            )
            print(
                f"  batch {i} ({', '.join(batch['hosts'])}): {batch['seconds']} s, "
                f"{'/'.join(batch['outcomes'])} [{detail}]"
            )
    for node, info in nodes.items():
        print(f"  {node}: {info['version']} (state {info['state_shape']}, OS pid {info['os_pid']})")
    for name, step in steps.items():
        print(f"{name} report: {step['report_md']}")
        for warning in step["warnings"]:
            print(f"  {name} warned: {warning}")
    print(f"timeline: {picture}")
    print(f"JSON of the demo: {out / 'report.json'}")
    return 0 if summary["failed"] == 0 and all(s["ok"] and s["report_md"] for s in steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
