#!/usr/bin/env bash
# The main job on the embedded lab: a fresh lab with the sample release 1.0.0 on 3 nodes behind
# HAProxy, then, under live load, a rolling deploy to 1.1.0 and a hot upgrade to 1.2.0. Leaves in
# .build/demo/ each run's Markdown report (and its JSON), timeline.svg (requests per second by
# version served, failures, batch starts) and the demo's own figures in report.json.
# Called by `make demo`, which sets PATH, CONTAINERS_CONF and the collection path.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build/demo
echo "== lab: 3 BEAM nodes on 1.0.0 behind HAProxy (fresh)"
for step in destroy create converge; do
  molecule "$step" -s lab >.build/demo/lab-"$step".log 2>&1 \
    || { tail -40 .build/demo/lab-"$step".log; echo "lab $step failed: .build/demo/lab-$step.log" >&2; exit 1; }
done
echo "== rolling deploy to 1.1.0, then hot upgrade to 1.2.0, under live load"
python3 scripts/demo.py --out .build/demo
