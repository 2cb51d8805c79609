#!/usr/bin/env bash
# The main job on the embedded lab: bring the lab up with the sample release deployed, then
# run live load through HAProxy and print the report (also written as JSON to .build/demo/).
# Called by `make demo`, which sets PATH, CONTAINERS_CONF and the collection path.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build/demo
molecule create -s lab
molecule converge -s lab
python3 scripts/demo_report.py --out .build/demo/report.json
