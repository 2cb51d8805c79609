#!/usr/bin/env python3
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make ee-check: a rolling deploy run from inside the execution environment, as AWX runs one.

A lab of its own (the user_journey scenario's platforms under the names ee-*, its ports apart),
reached over SSH on loopback; the user's infra repository (labtools.user_infra) as the job's
project; ansible-runner, which AWX runs jobs with, runs the node role, then beamops.deploy.rolling
1.0.0 -> 1.1.0 inside localhost/beamops-ee:latest while the load generator counts every request
through HAProxy. Exits 1 when a request failed, when the deploy failed, or when a node does not
serve 1.1.0; the lab is removed in every case.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Ports below 32768, out of Linux's ephemeral range (ip_local_port_range): a lane's outgoing connection
# may hold any port in it, and podman then cannot listen there ("address already in use").
os.environ.setdefault("BEAMOPS_LAB", "ee")
os.environ.setdefault("BEAMOPS_LAB_HTTP_PORT", "26080")
os.environ.setdefault("BEAMOPS_LAB_ADMIN_PORT", "26999")
os.environ.setdefault("BEAMOPS_LAB_SSH_PREFIX", "2230")
os.environ.setdefault("BEAMOPS_LAB_NODES", "4")
sys.path.insert(0, str(ROOT / "lab"))

import labtools  # noqa: E402

IMAGE = os.environ.get("BEAMOPS_EE_IMAGE", "localhost/beamops-ee:latest")
RUNNER = os.environ.get("BEAMOPS_RUNNER", "ansible-runner")


def molecule(action: str, *ansible_args: str) -> None:
    argv = ["molecule", action, "-s", "user_journey", *(["--", *ansible_args] if ansible_args else [])]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stdout[-3000:] + "\n" + done.stderr[-3000:]).strip()
        raise RuntimeError(f"molecule {action} -s user_journey failed ({done.returncode}): {said}")


def runner(infra: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    """ansible-runner with the EE as AWX runs a job: the project mounted at /runner/project, the host's
    network (the lab is on loopback), the SSH key mounted where the inventory says."""
    key_dir = Path(os.environ.get("BEAMOPS_BUILD_DIR", ROOT / ".build")) / "ssh"
    data = infra.parent / f"runner-{len(list(infra.parent.glob('runner-*')))}"
    # The job's private data dir as AWX lays it out: the project, and beside it the inventory (with its
    # group_vars) and what the inventory's paths name (../secrets, ../dist).
    shutil.copytree(infra, data / "project")
    for part in ("inventory", "secrets", "dist"):
        shutil.copytree(infra / part, data / part)
    argv = [
        RUNNER, "run", str(data), "-p", playbook, "--process-isolation",
        "--process-isolation-executable", "podman", "--container-image", IMAGE,
        "--container-option=--network=host", "--container-volume-mount", f"{key_dir}:{key_dir}:ro",
        # The image runs as uid 1000 (ansible-builder's default); the job's private data dir and the key
        # are root's here, as AWX's are its own: run the job as root in the container.
        "--container-option=--user=0",
    ]  # fmt: skip
    if extra:
        argv += ["--cmdline", " ".join(f"-e {item}" for item in extra)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1200, check=False)


def main() -> int:
    figures: dict = {"image": IMAGE}
    molecule("destroy")
    try:
        try:
            molecule("create")
        except RuntimeError as exc:
            # Once in CI the lab's containers could not be made beside two busy lanes; the check is of the
            # EE, not of podman under load: say why, remove what was made, and make the lab once more.
            print(f"ee-check: {exc}; making the lab once more", file=sys.stderr)
            molecule("destroy")
            molecule("create")
        # The lab only (SSH, HAProxy): the scenario's cases would leave the nodes deployed (1.2.0, their own
        # cookie), and this check starts from nodes that have nothing, as a user's first job does.
        molecule("converge", "--skip-tags", "beamops_cases")
        infra = labtools.user_infra(Path(tempfile.mkdtemp(prefix="beamops-ee-")) / "infra")
        nodes = runner(infra, "playbooks/nodes.yml")
        if nodes.returncode != 0:
            print(nodes.stdout[-4000:], nodes.stderr[-2000:])
            return 1
        labtools.wait_servers_up(timeout=90)
        load = labtools.BackgroundLoad(900, "--concurrency", "6")
        started = time.monotonic()
        deploy = runner(
            infra, "beamops.deploy.rolling", "rolling_version=1.1.0", "rolling_src=dist/beamops_sample-1.1.0.tar.gz"
        )
        figures["deploy_s"] = round(time.monotonic() - started, 1)
        summary = load.stop()
        figures.update({k: summary[k] for k in ("requests", "ok", "failed", "errors", "versions")})
        figures["served_after"] = {node: labtools.node_get(node, "/")["version"] for node in labtools.NODES}
        figures["rc"] = deploy.returncode
        if deploy.returncode != 0:
            print(deploy.stdout[-4000:], deploy.stderr[-2000:])
        ok = deploy.returncode == 0 and summary["failed"] == 0
        ok = ok and set(figures["served_after"].values()) == {"1.1.0"}
        labtools.save_figures("ee-check", figures)  # prints them too
        return 0 if ok else 1
    finally:
        molecule("destroy")


if __name__ == "__main__":
    sys.exit(main())
