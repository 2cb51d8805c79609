#!/usr/bin/env python3
"""`make molecule`: every Molecule scenario, in lanes that run side by side.

Each lane is a lab of its own (BEAMOPS_LAB names, ports: extensions/molecule/config.yml) and runs
its scenarios one after another. Most of a scenario's time is spent waiting (boots, drains, probe
intervals, live load at a few hundred requests per second), so two lanes on two cores take about
half the time of one with the CPU still far from busy. Scenarios go to the lane with the least
work so far, longest first, by the seconds each took in the last run on this machine
(.build/molecule/seconds.json) or, on a fresh machine, by the estimates below.

With --also, make targets that need no lab of the lanes' (`make test`: sanity, lint, ee-check)
run one after another in a lane of their own beside them.

Each scenario's (and target's) output goes to .build/molecule/<name>.log; a line for each says how it
ended, the whole log of a failed one is printed, and at the end why it failed. The exit status is 1
when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_DIR = ROOT / "extensions" / "molecule"
# Seconds of `molecule test` per scenario, measured on the 2-core CI machine (2026-12): used until
# a run on this machine records its own.
ESTIMATES = {
    "faults": 950,
    "rolling": 700,
    "canary": 600,
    "user_journey": 380,
    "blue_green": 300,
    "node_modules": 260,
    "lb_modules": 230,
    "hot_patch": 240,
    "cluster": 300,
    "lab": 120,
}
UNKNOWN = 300
# Lane n's names and ports. Lane 0 keeps the defaults that README and `make lab-up` use.
LANES = [
    {},
    {
        "BEAMOPS_LAB": "beamopsb",
        "BEAMOPS_LAB_HTTP_PORT": "28080",
        "BEAMOPS_LAB_ADMIN_PORT": "29999",
        "BEAMOPS_LAB_LB2_HTTP_PORT": "28081",
        "BEAMOPS_LAB_LB2_ADMIN_PORT": "29998",
        "BEAMOPS_LAB_SSH_PREFIX": "2240",
    },
]


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in SCENARIOS_DIR.glob("*/molecule.yml"))


def plan(names: list[str], lanes: int, seconds: dict[str, float]) -> list[list[str]]:
    """Longest first, each to the lane with the least work so far."""
    work = [0.0] * lanes
    out: list[list[str]] = [[] for _ in range(lanes)]
    for name in sorted(names, key=lambda n: (-seconds.get(n, ESTIMATES.get(n, UNKNOWN)), n)):
        lane = work.index(min(work))
        out[lane].append(name)
        work[lane] += seconds.get(name, ESTIMATES.get(name, UNKNOWN))
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")
FRAME = re.compile(r"^\s*[\u2502\u250c\u2514]\s?")


def digest(log: str, limit: int = 16) -> list[str]:
    """The few lines of a failed scenario's log that say why: the task that failed last (its TASK line and
    the fatal result) and pytest's failures. CI shows the end of the output, and the whole log is long."""
    lines = [FRAME.sub("", ANSI.sub("", line)).rstrip() for line in log.splitlines()]
    out: list[str] = []
    fatal = max((i for i, line in enumerate(lines) if re.match(r"\s*(fatal|failed): \[", line)), default=None)
    if fatal is not None:
        task = next((lines[i] for i in range(fatal, -1, -1) if lines[i].lstrip().startswith("TASK [")), "")
        out += [task.strip(), *[line for line in lines[fatal : fatal + 10] if line.strip()]]
    # pytest's report as the cases' debug task shows it: YAML list items, quoted when they hold a colon.
    out += [line.strip() for line in lines if re.match(r"\s*(- )?'?(FAILED|ERROR) \S+::", line)][:6]
    out += [line.strip() for line in lines if re.match(r"\s*(- )?'?E\s{2,}", line)][:4]
    return [line[:300] for line in out if line][:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=int(os.environ.get("MOLECULE_LANES", "2")))
    parser.add_argument("--logs", type=Path, default=ROOT / ".build" / "molecule")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="TARGET",
        help="a make target that needs no lab of the lanes' (sanity, lint, ee-check), run one after another "
        "in a lane of their own beside the scenarios; repeat for more",
    )
    parser.add_argument("names", nargs="*", help="scenarios (default: every one)")
    args = parser.parse_args()
    if not 1 <= args.lanes <= len(LANES):
        parser.error(f"--lanes (MOLECULE_LANES) must be 1 to {len(LANES)}, not {args.lanes}")
    names = args.names or scenarios()
    unknown = sorted(set(names) - set(scenarios()))
    if unknown:
        parser.error(f"no such scenario: {', '.join(unknown)} (have: {', '.join(scenarios())})")
    args.logs.mkdir(parents=True, exist_ok=True)
    record = args.logs / "seconds.json"
    try:
        seconds = json.loads(record.read_text())
    except (OSError, ValueError):
        seconds = {}
    lanes = plan(names, args.lanes, seconds)
    for i, lane in enumerate(lanes):
        print(f"lane {i} ({LANES[i].get('BEAMOPS_LAB', 'beamops')}): {' '.join(lane) or '-'}", flush=True)
    if args.also:
        print(f"lane {len(lanes)} (make, no lab of the lanes'): {' '.join(args.also)}", flush=True)

    lock = threading.Lock()
    results: dict[str, tuple[int, float]] = {}
    stop = threading.Event()

    def run_lane(i: int, lane: list[str], make: bool = False) -> None:
        env = dict(os.environ, **(LANES[i] if not make else {}))
        for name in lane:
            if stop.is_set():
                return
            log = args.logs / f"{name}.log"
            argv = [os.environ.get("MAKE", "make"), name] if make else ["molecule", "test", "-s", name]
            started = time.monotonic()
            with log.open("w") as out:
                rc = subprocess.call(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            took = time.monotonic() - started
            with lock:
                results[name] = (rc, took)
                print(
                    f"== {'make' if make else 'molecule scenario'} {name}: "
                    f"{'passed' if rc == 0 else f'FAILED (rc={rc})'} in {took / 60:.1f} min (lane {i}, log {log})",
                    flush=True,
                )
                if rc != 0:
                    # The other lanes finish the scenario they are in (a lab left half-made would
                    # fail the next run's create), then stop.
                    stop.set()
                    sys.stdout.write(log.read_text(errors="replace"))
                    print(f"== end of {log}", flush=True)

    threads = [threading.Thread(target=run_lane, args=(i, lane)) for i, lane in enumerate(lanes)]
    if args.also:
        threads.append(threading.Thread(target=run_lane, args=(len(lanes), args.also, True)))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds.update({n: round(t) for n, (rc, t) in results.items() if rc == 0 and n in names})
    record.write_text(json.dumps(seconds, indent=2, sort_keys=True) + "\n")
    failed = sorted(n for n, (rc, _) in results.items() if rc != 0)
    for name in failed:
        print(f"== why {name} failed (from {args.logs / (name + '.log')}):", flush=True)
        text = (args.logs / f"{name}.log").read_text(errors="replace")
        # A make target's own error (ruff, sanity, lint) is at the end of its log.
        for line in digest(text) or [line for line in text.splitlines() if line.strip()][-12:]:
            print(f"   {line}", flush=True)
    missed = sorted(set(names + args.also) - set(results))
    print(
        f"molecule: {len(results) - len(failed)} of {len(names) + len(args.also)} scenarios and targets passed in "
        f"{(time.monotonic() - started) / 60:.1f} min"
        + (f"; failed: {' '.join(failed)}" if failed else "")
        + (f"; not run: {' '.join(missed)}" if missed else ""),
        flush=True,
    )
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main())
