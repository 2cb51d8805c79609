#!/usr/bin/env python3
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: what a deploy costs beside the floor, on one lab of its own, under the same load.

Creates a lab of NODES BEAM nodes (systemd, the release as its own user) and one HAProxy with
podman, provisions it with lab/provision.yml (the collection's node role), then runs each variant
REPEAT times, each under lab/loadgen.py through HAProxy, and resets the lab to its starting
version between them:

  floor       the raw steps per node, no Ansible: admin-socket drain, wait for 0 sessions,
              podman cp, unpack, systemctl stop, switch current, systemctl start, wait for
              /health, ready, wait for UP
  stock       benchmarks/stock.yml (stock modules, community.general.haproxy)
  rolling     beamops.deploy.rolling, cold 1.0.0 -> 1.1.0
  rerun       the same rolling deploy again (nothing to change)
  hot_upgrade beamops.deploy.hot_upgrade 1.1.0 -> 1.2.0
  blue_green  beamops.deploy.blue_green 1.0.0 -> 1.1.0 on the idle colour (second half of the nodes)
  rolling_probe1
              (only when named in --variants) rolling with rolling_probe_successes=1, one success as the
              stock playbook's wait: what the default probe's 3 successes in a row (0.5 s apart) cost

The floor and the stock playbook use the collection's default batches (a canary of 1, then 25 %
of the nodes at a time, nodes of one batch in parallel), so that every variant takes the same
number of batches. Medians over the repeats go to .build/bench/bench.json, bench.md and
timeline.svg. Standard library only; removes its lab at the end (--keep-lab to keep it).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
NODE_IMAGE = "localhost/beamops-node:bookworm"
LB_IMAGE = "localhost/beamops-haproxy:bookworm"
VARIANTS = ("floor", "stock", "rolling", "rerun", "hot_upgrade", "blue_green")
OPT_IN = ("rolling_probe1",)
BACKEND = "beam_nodes"
# Seconds of load before and after each deploy: the baseline the deploy is seen against.
SETTLE_S = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("NODES", "3")), help="BEAM nodes (NODES)")
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("REPEAT", "3")), help="runs per variant")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of: " + ", ".join(VARIANTS + OPT_IN)
    )
    parser.add_argument("--concurrency", type=int, default=4, help="load generator clients (default %(default)s)")
    parser.add_argument("--slow-ratio", type=float, default=0.2, help="share of slow requests (default %(default)s)")
    parser.add_argument("--out", default=None, help="output directory (default .build/bench)")
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end")
    parser.add_argument(
        "--connection",
        choices=("ssh", "podman"),
        default=os.environ.get("BENCH_CONNECTION", "ssh"),
        help="how every variant reaches the hosts: ssh (as production: pipelining, ControlPersist; the floor "
        "over the same SSH master connections) or podman (podman exec/cp) (default %(default)s)",
    )
    parser.add_argument(
        "--serial",
        default=os.environ.get("SERIAL", ""),
        help="batches for every variant, as Ansible's serial, comma-separated (e.g. 1,25%%,100%%: a fixed count "
        "of 3 batches whatever the number of nodes); the default is the collection's: 1,25%% repeated. The "
        "strategies get it as beamops_serial, with beamops_max_unavailable raised to the largest batch",
    )
    parser.add_argument(
        "--ssh-base-port",
        type=int,
        default=int(os.environ.get("BENCH_SSH_BASE_PORT", "27400")),
        help="SSH ports on 127.0.0.1: the load balancer's, then node N's at base+N (default %(default)s, below "
        "the ephemeral ports the load generator's connections take)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.variants.split(",")) - set(VARIANTS + OPT_IN)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS + OPT_IN)}")
    if not 2 <= args.nodes <= 64:
        parser.error("--nodes must be between 2 and 64 (blue-green needs two colours)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.serial = [int(x) if x.isdigit() else x for x in args.serial.split(",") if x] or None
    return args


DEFAULT_SERIAL = [1, "25%"]


def batches(names: list[str], serial: list | None = None) -> list[list[str]]:
    """The batches Ansible's `serial` makes: each entry a count or a percentage of all the hosts (at
    least 1), the last one repeated until every host is in a batch. The collection's default is
    [1, "25%"]: a canary of 1, then 25 % of the nodes at a time."""
    sizes = []
    for entry in serial or DEFAULT_SERIAL:
        text = str(entry)
        size = len(names) * int(text[:-1]) // 100 if text.endswith("%") else int(text)
        sizes.append(max(1, size))
    out, rest, index = [], list(names), 0
    while rest:
        size = sizes[min(index, len(sizes) - 1)]
        out.append(rest[:size])
        rest = rest[size:]
        index += 1
    return out


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


class Lab:
    """The bench's own lab: PREFIX-node1..N and PREFIX-lb on the network PREFIX-lab, made with podman."""

    def __init__(self, labtools, workdir: Path, connection: str = "podman", ssh_base_port: int = 27400) -> None:
        self.lt = labtools
        self.nodes = list(labtools.NODES)
        self.lb = labtools.LB
        self.network = f"{labtools.PREFIX}-lab"
        # The deploys' inventory (SSH or podman) and the podman one the lab is provisioned through.
        self.inventory = workdir / "inventory.yml"
        self.provision_inventory = workdir / "inventory-podman.yml"
        self.workdir = workdir
        self.connection = connection
        self.ssh_ports = {name: ssh_base_port + i for i, name in enumerate([self.lb, *self.nodes])}
        self.ssh_key = Path(os.environ.get("BEAMOPS_BUILD_DIR", ROOT / ".build")) / "ssh" / "id_ed25519"
        self.ssh_control_dir = workdir / "ssh-cp"
        half = len(self.nodes) // 2
        self.blue, self.green = self.nodes[:half], self.nodes[half:]
        self.provisioned = False

    def podman(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *argv], capture_output=True, text=True, check=check, timeout=300)

    def create(self) -> None:
        self.destroy()
        self.podman("network", "create", self.network)
        for name in self.nodes:
            self.podman(
                "run", "-d", "--name", name, "--hostname", name, "--network", self.network,
                "-p", f"127.0.0.1:{self.ssh_ports[name]}:22", "--systemd=always", NODE_IMAGE, "/sbin/init",
            )  # fmt: skip
        for attempt in range(1, 6):  # a port of the previous bench lab may take a moment to be free
            run = self.podman(
                "run", "-d", "--name", self.lb, "--hostname", self.lb, "--network", self.network, "--init",
                "-p", f"127.0.0.1:{self.lt.LB_URL.rsplit(':', 1)[1]}:8080",
                "-p", f"127.0.0.1:{self.lt.ADMIN_ADDR[1]}:9999", "-p", f"127.0.0.1:{self.ssh_ports[self.lb]}:22",
                LB_IMAGE, "sleep", "infinity", check=False,
            )  # fmt: skip
            if run.returncode == 0:
                break
            self.podman("rm", "-f", self.lb, check=False)
            if attempt == 5:
                raise RuntimeError(f"cannot start {self.lb}: {run.stderr.strip()}")
            time.sleep(3)
        for name in self.nodes:
            self.podman("exec", name, "systemctl", "is-system-running", "--wait", check=False)
        self.write_inventory()

    def write_inventory(self) -> None:
        def inventory(ssh: bool) -> str:
            def hosts(names: list[str]) -> str:
                port = (lambda n: f"          ansible_port: {self.ssh_ports[n]}\n") if ssh else (lambda n: "")
                return "".join(f"        {n}:\n{port(n)}" for n in names)

            conn = (
                "    ansible_connection: ssh\n    ansible_host: 127.0.0.1\n    ansible_user: root\n"
                f"    ansible_ssh_private_key_file: {self.ssh_key}\n"
                if ssh
                else "    ansible_connection: containers.podman.podman\n"
            )
            return (
                f"all:\n  vars:\n{conn}    ansible_python_interpreter: /usr/bin/python3\n  children:\n"
                f"    beam_nodes:\n      hosts:\n{hosts(self.nodes)}"
                f"    blue:\n      hosts:\n{hosts(self.blue)}"
                f"    green:\n      hosts:\n{hosts(self.green)}"
                f"    lb:\n      hosts:\n{hosts([self.lb])}"
            )

        self.provision_inventory.write_text(inventory(False), encoding="utf-8")
        self.inventory.write_text(inventory(self.connection == "ssh"), encoding="utf-8")

    def ssh_argv(self, name: str) -> list[str]:
        """ssh to a lab host on its published port, through one master connection per host (what Ansible's
        ControlPersist gives the other variants)."""
        self.ssh_control_dir.mkdir(mode=0o700, exist_ok=True)
        return [
            "ssh", "-i", str(self.ssh_key), "-p", str(self.ssh_ports[name]), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=auto", "-o", "ControlPersist=120s",
            "-o", f"ControlPath={self.ssh_control_dir}/%C", "root@127.0.0.1",
        ]  # fmt: skip

    def run_on(self, name: str, script: str, stdin_path: str | None = None) -> None:
        """A shell script on a lab host, over the bench's connection (stdin from a file when given)."""
        if self.connection == "ssh":
            argv = [*self.ssh_argv(name), script]
        else:
            argv = ["podman", "exec", "-i", name, "sh", "-c", script]
        with open(stdin_path or os.devnull, "rb") as stdin:
            subprocess.run(argv, stdin=stdin, check=True, capture_output=True, timeout=300)

    def destroy(self) -> None:
        names = [*self.nodes, self.lb]
        existing = [n for n in names if self.podman("container", "exists", n, check=False).returncode == 0]
        if existing:
            self.podman("rm", "-f", "-t", "2", *existing)
        if self.podman("network", "exists", self.network, check=False).returncode == 0:
            self.podman("network", "rm", self.network)

    def reset(self, colours: bool = False) -> float:
        """Every node back on 1.0.0, freshly provisioned (root wiped, node role run), every member ready.

        With colours, the green half is then put in maintenance: blue serves, green is idle.
        Returns the seconds it took.
        """
        started = time.monotonic()
        root = self.lt.APP_ROOT

        def wipe(node: str) -> None:
            wipe = f"systemctl stop {self.lt.APP} 2>/dev/null; rm -rf {root} /tmp/bench-*"
            self.lt.podman_exec(node, "sh", "-c", wipe)

        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(wipe, self.nodes))
        self.lt._IDENTITY.clear()
        if self.provisioned:  # HAProxy runs: members left drained or in maintenance come back
            for node in self.nodes:
                self.lt.set_member_state(node, "ready")
        self.provision()
        self.provisioned = True
        if colours:
            for node in self.green:
                self.lt.set_member_state(node, "maint")
        return time.monotonic() - started

    def provision(self) -> None:
        env = dict(os.environ, ANSIBLE_FORKS=str(max(5, len(self.nodes) + 1)), ANSIBLE_NOCOLOR="1")
        playbooks = ["provision.yml"] + (["ssh.yml"] if self.connection == "ssh" and not self.provisioned else [])
        for playbook in playbooks:
            argv = ["ansible-playbook", "-i", str(self.provision_inventory), str(ROOT / "lab" / playbook)]
            run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800, check=False)
            log = self.workdir / f"{Path(playbook).stem}.log"
            log.write_text(run.stdout + run.stderr, encoding="utf-8")
            if run.returncode != 0:
                raise RuntimeError(f"provisioning the bench lab failed; see {log}")


class Bench:
    def __init__(self, args: argparse.Namespace, labtools, workdir: Path) -> None:
        self.args = args
        self.lt = labtools
        self.workdir = workdir
        self.lab = Lab(labtools, workdir, args.connection, args.ssh_base_port)
        self.runs: dict[str, list[dict]] = {v: [] for v in VARIANTS + OPT_IN}
        self.segments: list[dict] = []
        self.profile: dict[str, float] = {}

    def tarball(self, version: str) -> str:
        return f"{self.lt.RELEASES_DIR}/{self.lt.APP}-{version}.tar.gz"

    # -- one measured run ------------------------------------------------------------------
    def measure(self, variant: str, rep: int, deploy, nodes_deployed: int) -> dict:
        self.lt.wait_servers_up(tuple(self.serving(variant)), timeout=60)
        records = self.workdir / f"{variant}-r{rep}.jsonl"
        load_started = time.monotonic()
        load = self.lt.BackgroundLoad(
            3600, "--concurrency", str(self.args.concurrency), "--slow-ratio", str(self.args.slow_ratio),
            "--seed", str(rep), "--records", str(records),
        )  # fmt: skip
        time.sleep(SETTLE_S)
        t0 = time.monotonic()
        try:
            marks, extra = deploy()
        except RuntimeError as exc:  # a failed deploy is a result too: recorded, its chain stops
            print(f"bench: {variant} #{rep} FAILED: {exc}", flush=True)
            marks, extra = [], {"error": str(exc)}
        except BaseException:
            load.stop()
            raise
        t1 = time.monotonic()
        time.sleep(SETTLE_S)
        summary = load.stop()
        wall = t1 - t0
        run = {
            "wall_s": round(wall, 2),
            "per_node_s": round(wall / nodes_deployed, 2),
            "failed": summary["failed"],
            "requests": summary["requests"],
            "p50_ms": summary["latency_ms"]["p50"],
            "p99_ms": summary["latency_ms"]["p99"],
            "errors": summary["errors"],
            "versions": summary["versions"],
            **extra,
        }
        self.runs[variant].append(run)
        self.segments.append(
            {
                "variant": variant,
                "rep": rep,
                "records": str(records),
                "deploy": [t0 - load_started, t1 - load_started],
                "marks": [[m - load_started, label] for m, label in marks],
            }
        )
        print(
            f"bench: {variant} #{rep}: {run['wall_s']} s wall, {run['per_node_s']} s/node, "
            f"{run['failed']} failed of {run['requests']}, p99 {run['p99_ms']} ms",
            flush=True,
        )
        return run

    def serving(self, variant: str) -> list[str]:
        return self.lab.blue if variant == "blue_green" else self.lab.nodes

    # -- variants ----------------------------------------------------------------------------
    def floor(self) -> tuple[list, dict]:
        """The raw steps, batch by batch (nodes of a batch in parallel); per-step seconds summed over nodes."""
        steps: dict[str, float] = {}
        lock = threading.Lock()
        version = "1.1.0"
        tarball = self.tarball(version)
        marks = []

        def step(name: str, func, *a):
            started = time.monotonic()
            result = func(*a)
            with lock:
                steps[name] = steps.get(name, 0.0) + time.monotonic() - started
            return result

        def one(node: str) -> None:
            lt, run_on = self.lt, self.lab.run_on
            ident = lt.node_identity(node)
            user, root, unit = ident["user"], lt.APP_ROOT, ident["service_name"]
            rel = f"{root}/releases/{version}"
            tmp = f"/tmp/bench-{version}.tar.gz"
            step("drain", lt.set_member_state, node, "drain")
            step("drain", lt.wait_member, node, lambda r: r["scur"] == "0" and r["qcur"] == "0", "drained")
            step("copy", run_on, node, f"cat > {tmp}", tarball)
            unpack = f"mkdir -p {rel} && tar -xzf {tmp} -C {rel} && chown -R {user}: {rel} && rm -f {tmp}"
            step("unpack", run_on, node, unpack)
            step("stop", run_on, node, f"systemctl stop {unit}")
            switch = (
                f"ln -sfn releases/{version} {root}/current.new && chown -h {user}: {root}/current.new"
                f" && mv -T {root}/current.new {root}/current"
            )
            step("switch", run_on, node, switch)
            step("start", run_on, node, f"systemctl start {unit}")
            health = (
                "python3 -c 'import time, urllib.request as u\n"
                "end = time.monotonic() + 60\n"
                "while True:\n"
                "    try:\n"
                '        if u.urlopen("http://127.0.0.1:8080/health", timeout=2).status == 200: break\n'
                "    except Exception:\n"
                "        if time.monotonic() > end: raise\n"
                "    time.sleep(0.1)\n'"
            )
            step("health", run_on, node, health)
            step("ready", lt.set_member_state, node, "ready")
            step("ready", lt.wait_member, node, lambda r: r["status"] == "UP", "UP")

        for number, batch in enumerate(batches(self.lab.nodes, self.args.serial), 1):
            marks.append((time.monotonic(), f"batch {number}"))
            with ThreadPoolExecutor(len(batch)) as pool:
                list(pool.map(one, batch))
        return marks, {"steps_s": {k: round(v, 2) for k, v in steps.items()}}

    def playbook(self, variant: str, rep: int, playbook: str, extra_vars: dict, inventory: Path | None = None):
        """ansible-playbook, its output timestamped line by line: batch marks (PLAY headers) and task times."""
        log = self.workdir / f"{variant}-r{rep}.log"
        calls_file = self.workdir / f"{variant}-r{rep}.calls.json"
        if self.args.serial and variant != "stock":
            widest = max(len(b) for b in batches(self.lab.nodes, self.args.serial))
            extra_vars = dict(extra_vars, beamops_serial=self.args.serial, beamops_max_unavailable=widest)
        argv = ["ansible-playbook", "-i", str(inventory or self.lab.inventory), playbook, "-e", json.dumps(extra_vars)]
        env = dict(
            os.environ,
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            PYTHONUNBUFFERED="1",
            ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks,beamops_calls",
            # The calls that leave the control node, per host and play (callback_plugins/beamops_calls.py).
            ANSIBLE_CALLBACK_PLUGINS=str(BENCH_DIR / "callback_plugins"),
            BEAMOPS_CALLS_FILE=str(calls_file),
            # What an operator's ansible.cfg has: a fork per host of the widest batch, and over SSH
            # pipelining with one master connection per host.
            ANSIBLE_FORKS=str(max(5, len(self.lab.nodes) + 1)),
            ANSIBLE_PIPELINING="True",
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null",
        )
        marks: list = []
        tasks: list[tuple[float, str]] = []
        lines: list[str] = []
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.workdir
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                now = time.monotonic()
                lines.append(line)
                if line.startswith("PLAY [") and "batches" in line:  # one header per serial batch
                    marks.append((now, f"batch {len(marks) + 1}"))
                if line.startswith(("TASK [", "RUNNING HANDLER [", "PLAY RECAP", "PLAY [")):
                    tasks.append((now, line.split("]", 1)[0].split("[", 1)[-1]))
            proc.wait(timeout=1800)
        log.write_text("".join(lines), encoding="utf-8")
        if proc.returncode != 0:
            raise RuntimeError(f"{variant}: ansible-playbook {playbook} exited {proc.returncode}; see {log}")
        changed = sum(int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", "".join(lines), re.M))
        per_task: dict[str, float] = {}
        for (start, name), (end, _) in itertools.pairwise(tasks):
            per_task[name] = per_task.get(name, 0.0) + end - start
        if not marks:  # a play without batches in its name: one mark at the start
            marks = [(tasks[0][0] if tasks else time.monotonic(), "start")]
        extra = {"changed": changed, "tasks_s": {k: round(v, 2) for k, v in per_task.items()}}
        if calls_file.is_file():
            extra["calls_per_node"] = calls_per_node(json.loads(calls_file.read_text(encoding="utf-8")))
        return marks, extra

    def stock(self, rep: int):
        extra = {
            "bench_version": "1.1.0",
            "bench_src": self.tarball("1.1.0"),
            "bench_serial": self.args.serial or DEFAULT_SERIAL,
        }
        return self.playbook("stock", rep, str(BENCH_DIR / "stock.yml"), extra)

    def rolling(self, rep: int, variant: str = "rolling"):
        extra = {
            "rolling_app_name": self.lt.APP,
            "rolling_version": "1.1.0",
            "rolling_src": self.tarball("1.1.0"),
            "rolling_report_path": str(self.workdir / f"{variant}-r{rep}.report.json"),
        }
        if variant == "rolling_probe1":
            extra["rolling_probe_successes"] = 1
        return self.playbook(variant, rep, "beamops.deploy.rolling", extra)

    def hot_upgrade(self, rep: int):
        extra = {
            "rolling_app_name": self.lt.APP,
            "rolling_version": "1.2.0",
            "rolling_src": self.tarball("1.2.0"),
            "rolling_report_path": str(self.workdir / f"hot_upgrade-r{rep}.report.json"),
        }
        return self.playbook("hot_upgrade", rep, "beamops.deploy.hot_upgrade", extra)

    def blue_green(self, rep: int):
        extra = {
            "blue_green_app_name": self.lt.APP,
            "blue_green_app_root": self.lt.APP_ROOT,
            "blue_green_version": "1.1.0",
            "blue_green_src": self.tarball("1.1.0"),
            "blue_green_lb_backends": [BACKEND],
            "blue_green_lb_probe_url": "http://127.0.0.1:8080/",
            "blue_green_report_path": str(self.workdir / f"blue_green-r{rep}.report.json"),
        }
        return self.playbook("blue_green", rep, "beamops.deploy.blue_green", extra)

    # -- the whole bench -----------------------------------------------------------------------
    def run(self) -> None:
        wanted = set(self.args.variants.split(","))
        n = len(self.lab.nodes)
        for rep in range(1, self.args.repeat + 1):
            if "floor" in wanted:
                self.lab.reset()
                self.measure("floor", rep, self.floor, n)
            if "stock" in wanted:
                self.lab.reset()
                self.measure("stock", rep, lambda r=rep: self.stock(r), n)
            if wanted & {"rolling", "rerun", "hot_upgrade"}:
                # One chain from 1.0.0: rolling to 1.1.0, its re-run, the hot upgrade to 1.2.0.
                self.lab.reset()
                ok = "error" not in self.measure("rolling", rep, lambda r=rep: self.rolling(r), n)
                if ok and "rerun" in wanted:
                    ok = "error" not in self.measure("rerun", rep, lambda r=rep: self.rolling(r, "rerun"), n)
                if ok and "hot_upgrade" in wanted:
                    self.measure("hot_upgrade", rep, lambda r=rep: self.hot_upgrade(r), n)
            if "rolling_probe1" in wanted:
                self.lab.reset()
                self.measure("rolling_probe1", rep, lambda r=rep: self.rolling(r, "rolling_probe1"), n)
            if "blue_green" in wanted:
                self.lab.reset(colours=True)
                self.measure("blue_green", rep, lambda r=rep: self.blue_green(r), len(self.lab.green))

    def results(self) -> dict:
        variants = {}
        for name, all_runs in self.runs.items():
            runs = [r for r in all_runs if "error" not in r]
            if not runs:
                if all_runs:
                    variants[name] = {"error": all_runs[-1]["error"], "runs": all_runs}
                continue
            variants[name] = {
                key: median([r[key] for r in runs if r[key] is not None] or [0])
                for key in ("wall_s", "per_node_s", "p50_ms", "p99_ms")
            }
            variants[name]["failed"] = int(statistics.median(r["failed"] for r in runs))
            calls = [r["calls_per_node"] for r in runs if r.get("calls_per_node")]
            if calls:
                variants[name]["calls_per_node"] = {
                    key: int(median([c[key] for c in calls])) for key in ("preflight", "batches", "total")
                }
            variants[name]["failed_max"] = max(r["failed"] for r in runs)
            variants[name]["runs"] = all_runs
            variants[name]["deploys_failed"] = len(all_runs) - len(runs)
        floor = variants.get("floor", {}).get("per_node_s")
        for data in variants.values():
            if "error" in data:
                continue
            data["ratio_to_floor"] = round(data["per_node_s"] / floor, 2) if floor else None
        return {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "nodes": len(self.lab.nodes),
            "batches": [len(b) for b in batches(self.lab.nodes, self.args.serial)],
            "repeat": self.args.repeat,
            "load": {"concurrency": self.args.concurrency, "slow_ratio": self.args.slow_ratio},
            "connection": self.args.connection,
            "machine": {"cpus": os.cpu_count(), "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
            "variants": variants,
        }


def calls_per_node(counts: dict) -> dict:
    """The calls that left the control node for the busiest node: in the preflight play, in the batches
    (drain and ready on each load balancer included), and in all; the per-node figures beside them."""
    per_node: dict[str, dict[str, int]] = {}
    for play, hosts in counts.items():
        phase = "preflight" if "preflight" in play else "batches" if "batch" in play else "other"
        for host, entry in hosts.items():
            node = per_node.setdefault(host, {"preflight": 0, "batches": 0, "other": 0})
            node[phase] += entry["calls"]
    if not per_node:
        return {}
    most = {phase: max(n[phase] for n in per_node.values()) for phase in ("preflight", "batches", "other")}
    most["total"] = max(sum(n.values()) for n in per_node.values())
    return {**most, "nodes": per_node}


def markdown(results: dict) -> str:
    head = (
        f"Bench of {results['date']}: {results['nodes']} nodes, batches {results['batches']}, "
        f"median of {results['repeat']} run(s), load {results['load']['concurrency']} clients, "
        f"connection {results.get('connection', 'podman')}.\n\n"
        "| variant | wall s | s per node | failed | p50 ms | p99 ms | x floor "
        "| calls per node: preflight + batch (all) |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    rows = []
    for name in VARIANTS + OPT_IN:
        v = results["variants"].get(name)
        if v and "error" in v:
            rows.append(f"| {name} | deploy failed: {v['error'][:80]} | | | | | | |")
        elif v:
            ratio = "" if v["ratio_to_floor"] is None else f"{v['ratio_to_floor']:.2f}"
            c = v.get("calls_per_node")
            calls = f"{c['preflight']} + {c['batches']} ({c['total']})" if c else ""
            rows.append(
                f"| {name} | {v['wall_s']:.1f} | {v['per_node_s']:.1f} | {v['failed']} | "
                f"{v['p50_ms']:.0f} | {v['p99_ms']:.0f} | {ratio} | {calls} |"
            )
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The bench's own lab: names and ports apart from the other labs of this machine.
    os.environ.setdefault("BEAMOPS_LAB", "bench")
    os.environ.setdefault("BEAMOPS_LAB_HTTP_PORT", "24080")
    os.environ.setdefault("BEAMOPS_LAB_ADMIN_PORT", "24999")
    os.environ["BEAMOPS_LAB_NODES"] = str(args.nodes)
    sys.path.insert(0, str(ROOT / "lab"))
    labtools = importlib.import_module("labtools")
    timeline = importlib.import_module("timeline")

    out = Path(args.out or Path(os.environ.get("BEAMOPS_BUILD_DIR", ROOT / ".build")) / "bench")
    workdir = out / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, labtools, workdir)
    print(
        f"bench: lab {labtools.PREFIX} of {args.nodes} nodes over {args.connection}, {args.repeat} run(s) per variant",
        flush=True,
    )
    try:
        bench.lab.create()
        bench.run()
    finally:
        if bench.runs and any(bench.runs.values()):
            results = bench.results()
            (out / "bench.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            (out / "bench.md").write_text(markdown(results), encoding="utf-8")
            (out / "segments.json").write_text(json.dumps(bench.segments, indent=1) + "\n", encoding="utf-8")
            timeline.write_svg(bench.segments, out / "timeline.svg")
            print(markdown(results))
            print(f"bench: wrote {out}/bench.json, bench.md, timeline.svg", flush=True)
        if not args.keep_lab:
            bench.lab.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
