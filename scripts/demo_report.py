# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs live load through the lab's HAProxy and prints a readable report, plus JSON to a file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))
import labtools


def node_versions() -> dict[str, str]:
    """What each node's release_handler reports as its permanent/current release."""
    result = {}
    for node in labtools.NODES:
        out = labtools.node_script(node, "versions", check=False).stdout
        result[node] = " ".join(line.strip() for line in out.splitlines() if line.strip()) or "down"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    labtools.wait_servers_up()
    load = labtools.run_load(args.duration)
    report = {
        "load": load,
        "nodes": node_versions(),
        "haproxy": {name: row["status"] for name, row in labtools.backend_servers().items()},
    }
    Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    lat = load["latency_ms"]
    print(
        f"\nrequests served: {load['ok']}, failed: {load['failed']} over {load['duration_s']} s ({load['rps']} req/s)"
    )
    print(f"latency ms: p50 {lat['p50']}, p99 {lat['p99']}, max {lat['max']}")
    print(f"versions answered: {load['versions']}")
    for node, versions in report["nodes"].items():
        print(f"  {node}: {versions} (HAProxy: {report['haproxy'].get(node, '?')})")
    print(f"JSON report: {args.out}")
    return 0 if load["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
