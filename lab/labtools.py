# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers the lab's tests and the demo share: load runs, HAProxy's admin socket, node commands.

Standard library only. Everything talks to the lab as published on loopback by `make lab-up`
(HAProxy HTTP on 127.0.0.1:18080, its TCP admin socket on 127.0.0.1:19999), and to the
containers through podman. BEAMOPS_LAB, BEAMOPS_LAB_HTTP_PORT and BEAMOPS_LAB_ADMIN_PORT select
another lab, as in extensions/molecule/config.yml.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
PREFIX = os.environ.get("BEAMOPS_LAB", "beamops")
LB_URL = f"http://127.0.0.1:{os.environ.get('BEAMOPS_LAB_HTTP_PORT', '18080')}"
ADMIN_ADDR = ("127.0.0.1", int(os.environ.get("BEAMOPS_LAB_ADMIN_PORT", "19999")))
# A scenario with a wider lab says how many nodes it has (molecule.yml: provisioner env, which verify gets too).
NODES = tuple(f"{PREFIX}-node{i}" for i in range(1, int(os.environ.get("BEAMOPS_LAB_NODES", "3")) + 1))
LB = f"{PREFIX}-lb"
# A scenario with a second load balancer (faults) publishes its admin socket on this port.
LB2_ADMIN_ADDR = ("127.0.0.1", int(os.environ.get("BEAMOPS_LAB_LB2_ADMIN_PORT", "19998")))
APP = "beamops_sample"
APP_ROOT = "/opt/beamops_sample"
RELEASES_DIR = os.environ.get("BEAMOPS_RELEASES_DIR", str(LAB_DIR.parent / ".build" / "releases"))


def lab_vars() -> dict:
    """The lab's settings shared with its playbooks (lab/vars.yml: backend, groups, ports ...)."""
    import yaml  # noqa: PLC0415 - the lab's tests have PyYAML; the rest of this module needs only the stdlib

    return yaml.safe_load((LAB_DIR / "vars.yml").read_text(encoding="utf-8"))


def loadgen_command(duration: float, *extra: str, url: str = LB_URL) -> list[str]:
    return [sys.executable, str(LAB_DIR / "loadgen.py"), "--url", url, "--duration", str(duration), *extra]


def run_load(duration: float, *extra: str) -> dict:
    """Run the load generator in the foreground and return its JSON summary."""
    out = subprocess.run(
        loadgen_command(duration, *extra), check=True, capture_output=True, text=True, timeout=duration + 60
    )
    return json.loads(out.stdout)


def kept_every_request(run: subprocess.CompletedProcess, load: dict, *versions: str) -> None:
    """Assert that a playbook run succeeded while the load through HAProxy lost no request, and that each
    version given answered some of it (e.g. the old and the new one of a deploy)."""
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert load["failed"] == 0, load.get("first_failures")
    assert set(versions) <= set(load["versions"]), load["versions"]


class BackgroundLoad:
    """The load generator running while something else happens; stop() returns the summary."""

    def __init__(self, duration: float, *extra: str, url: str = LB_URL) -> None:
        self.duration = duration
        self.proc = subprocess.Popen(
            loadgen_command(duration, *extra, url=url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self, early: bool = True) -> dict:
        if early and self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=self.duration + 60)
        if self.proc.returncode != 0:
            raise RuntimeError(f"loadgen exited {self.proc.returncode}: {err}")
        return json.loads(out)


def admin_addr(lb: str) -> tuple[str, int]:
    """Where a lab load balancer's TCP admin socket is published on loopback (LB, or PREFIX-lb2)."""
    if lb == LB:
        return ADMIN_ADDR
    if lb == f"{PREFIX}-lb2":
        return LB2_ADMIN_ADDR
    raise ValueError(f"{lb} is not a load balancer of lab {PREFIX}")


def haproxy_command(command: str, addr: tuple[str, int] = ADMIN_ADDR, timeout: float = 5.0) -> str:
    """Send one command to HAProxy's TCP admin socket and return its answer."""
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def backend_servers(backend: str = "beam_nodes", addr: tuple[str, int] = ADMIN_ADDR) -> dict[str, dict[str, str]]:
    """`show stat` rows of a backend's servers, by server name."""
    text = haproxy_command(f"show stat {backend} 4 -1", addr=addr).lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {row["svname"]: row for row in rows if row.get("svname") not in (None, "", "BACKEND")}


def servers_state(backend: str = "beam_nodes", addr: tuple[str, int] = ADMIN_ADDR) -> dict[str, dict[str, str]]:
    """`show servers state` rows of a backend's servers (srv_admin_state, srv_op_state, srv_uweight ...),
    by server name: HAProxy's own view, read without the collection's modules."""
    lines = haproxy_command(f"show servers state {backend}", addr=addr).splitlines()
    names = lines[1][2:].split()
    rows = [dict(zip(names, line.split())) for line in lines[2:] if line.strip()]
    return {row["srv_name"]: row for row in rows}


# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced, inherited, configured or resolver maintenance;
# forced or inherited drain.
_MAINT_BITS, _DRAIN_BITS = 0x27, 0x18


def admin_states(backend: str = "beam_nodes", addr: tuple[str, int] = ADMIN_ADDR) -> dict[str, str]:
    """Each member's admin state as HAProxy holds it, by server name: ready, drain or maint."""
    states = {}
    for name, row in servers_state(backend, addr=addr).items():
        bits = int(row["srv_admin_state"])
        states[name] = "maint" if bits & _MAINT_BITS else "drain" if bits & _DRAIN_BITS else "ready"
    return states


def member_states(lb: str, backend: str = "beam_nodes") -> dict[str, tuple[str, str]]:
    """Every member of a backend on one lab load balancer: (health status, admin state), by server name."""
    addr = admin_addr(lb)
    admin = admin_states(backend, addr=addr)
    return {name: (row["status"], admin.get(name, "?")) for name, row in backend_servers(backend, addr=addr).items()}


class OutOfRotation:
    """Samples HAProxy's backend while something runs: how many members were out of rotation (any
    status but a steady UP) at the worst moment, and who. stop() returns the figures."""

    def __init__(self, interval: float = 0.1, backend: str = "beam_nodes") -> None:
        self.interval = interval
        self.backend = backend
        self.samples = 0
        self.worst: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rows = backend_servers(self.backend)
            out = sorted(name for name, row in rows.items() if row.get("status") != "UP")
            self.samples += 1
            if len(out) > len(self.worst):
                self.worst = out
            self._stop.wait(self.interval)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(timeout=10)
        return {"samples": self.samples, "max_out_of_rotation": len(self.worst), "worst": self.worst}


def wait_answering(node: str, timeout: float = 60.0) -> None:
    """Wait until the release on a node answers HTTP inside its container (after a restart)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            node_get(node, "/")
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node} did not answer within {timeout:g} s of its restart") from None
            time.sleep(0.5)


def wait_servers_up(names: tuple[str, ...] = NODES, timeout: float = 30.0) -> dict:
    """Wait until HAProxy reports every named server UP; return the last rows."""
    deadline = time.monotonic() + timeout
    while True:
        rows = backend_servers()
        if all(rows.get(n, {}).get("status") == "UP" for n in names):
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"servers not UP after {timeout}s: { {n: rows.get(n, {}).get('status') for n in names} }"
            )
        time.sleep(0.25)


def podman_exec(container: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command inside a lab container."""
    return subprocess.run(
        ["podman", "exec", container, *argv], check=check, capture_output=True, text=True, timeout=120
    )


_IDENTITY: dict[str, dict] = {}


def node_identity(container: str) -> dict:
    """Who runs the release on a node and how, as the node role recorded it (<root>/.beamops/node.json)."""
    if container not in _IDENTITY:
        text = podman_exec(container, "cat", f"{APP_ROOT}/.beamops/node.json").stdout
        _IDENTITY[container] = json.loads(text)
    return _IDENTITY[container]


def app_user(container: str) -> str:
    """The user the release runs as on a node (the lab's default: the app's own, non-root user)."""
    return node_identity(container)["user"]


def node_script(container: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The release's own start script on a node, run as the release's user: ping, versions, eval ..."""
    user = app_user(container)
    return subprocess.run(
        ["podman", "exec", "--user", user, container, f"{APP_ROOT}/current/bin/{APP}", *args],
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stop_node(container: str) -> None:
    """Stop the release the way its service manager does (systemctl stop, or bin/<app> stop)."""
    if node_identity(container)["service_manager"] == "systemd":
        podman_exec(container, "systemctl", "stop", node_identity(container)["service_name"])
    else:
        node_script(container, "stop")


def start_node(container: str) -> None:
    """Start the release the way its service manager does (systemctl start, or bin/<app> daemon)."""
    if node_identity(container)["service_manager"] == "systemd":
        podman_exec(container, "systemctl", "start", node_identity(container)["service_name"])
    else:
        node_script(container, "daemon")


_REACH: dict[str, Path] = {}


def _reach(host: str) -> Path:
    """A one-host inventory of a lab container for ad-hoc runs, written once per host and process (its
    SSH master connection is kept between the runs)."""
    if host not in _REACH:
        path = Path(tempfile.mkdtemp(prefix=f"reach-{PREFIX}-")) / "inventory.yml"
        _REACH[host] = write_inventory(path, lbs=(), nodes=(host,))
    return _REACH[host]


def run_module(
    host: str,
    module: str,
    args: dict,
    check_mode: bool = False,
    delegate_local: bool = False,
    become_user: str | None = None,
) -> dict:
    """Run one Ansible module on a lab container (or the control node) and return its result.

    Uses the ad-hoc `ansible` command with the JSON callback, the way a user's task would run it, over the
    connection write_inventory gives; become_user runs it as that user (sudo), as the roles do for the
    modules that reach the node.
    """
    target = ["localhost", "-i", "localhost,", "-c", "local"] if delegate_local else [host, "-i", str(_reach(host))]
    argv = [
        "ansible",
        *target,
        "-e",
        "ansible_python_interpreter=/usr/bin/python3",
        "-m",
        module,
        "-a",
        json.dumps(args),
    ]
    if check_mode:
        argv.append("--check")
    if become_user and become_user != "root":
        argv += ["--become", "--become-user", become_user]
    # stdout must be the JSON callback's alone: no colour, no extra callbacks printing there.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"}
    env.update(
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"
    )
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        data = json.loads(out.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"ansible {module} on {host}: no JSON (rc={out.returncode}): {out.stderr[-2000:]}") from exc
    results = data["plays"][0]["tasks"][0]["hosts"]
    return next(iter(results.values()))


def container_address(container: str) -> str:
    """The container's address on the lab's podman network (reachable from this host: rootful bridge)."""
    out = subprocess.run(
        ["podman", "inspect", container, "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    if not out:
        raise RuntimeError(f"{container} has no address on a podman network")
    return out[0]


def ssh_key() -> Path:
    """The key `make setup` made, authorized on the lab's hosts by lab/ssh.yml (lab/provision.yml imports it)."""
    return Path(os.environ.get("BEAMOPS_BUILD_DIR", LAB_DIR.parent / ".build")) / "ssh" / "id_ed25519"


def write_inventory(
    path: Path,
    lbs: tuple[str, ...] = (LB,),
    connection: str | None = None,
    groups: dict[str, tuple[str, ...]] | None = None,
    nodes: tuple[str, ...] = NODES,
) -> Path:
    """An inventory of this lab (groups beam_nodes and lb, none when lbs is empty) for ansible-playbook.

    connection: ssh (the default, as production runs: each host's address on the lab network, root with
    the lab's key, one master connection per host kept in a directory of this inventory's own, pipelining),
    or podman (podman exec/cp). BEAMOPS_LAB_CONNECTION sets the default. groups: more groups of the
    lab's hosts (e.g. blue and green)."""
    connection = connection or os.environ.get("BEAMOPS_LAB_CONNECTION", "ssh")
    if connection == "ssh":
        control = tempfile.mkdtemp(prefix=f"bcp-{PREFIX}-", dir="/tmp")
        host = lambda name: f"        {name}:\n          ansible_host: {container_address(name)}"  # noqa: E731
        reach = (
            "    ansible_connection: ssh\n    ansible_user: root\n"
            f"    ansible_ssh_private_key_file: {ssh_key()}\n    ansible_pipelining: true\n"
            "    ansible_ssh_args: -o ControlMaster=auto -o ControlPersist=60s"
            f" -o ControlPath={control}/%C -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null\n"
        )
    elif connection == "podman":
        host = lambda name: f"        {name}:"  # noqa: E731
        reach = "    ansible_connection: containers.podman.podman\n"
    else:
        raise ValueError(f"BEAMOPS_LAB_CONNECTION must be ssh or podman, not {connection!r}")
    hosts = "\n".join(host(name) for name in nodes)
    balancers = "\n".join(host(name) for name in lbs)
    more = "".join(
        f"    {group}:\n      hosts:\n" + "".join(f"        {name}:\n" for name in members)
        for group, members in (groups or {}).items()
    )
    lb_group = f"    lb:\n      hosts:\n{balancers}\n" if lbs else ""  # none: a fleet without a load balancer
    path.write_text(
        f"all:\n  vars:\n{reach}    ansible_python_interpreter: /usr/bin/python3\n  children:\n"
        f"    beam_nodes:\n      hosts:\n{hosts}\n{lb_group}{more}",
        encoding="utf-8",
    )
    return path


def playbook_env(**overrides: str) -> dict[str, str]:
    """The environment ansible-playbook runs in from the tests: this one, without colour, plus overrides."""
    return dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **overrides)


def tarball(version: str, app: str = APP) -> str:
    """The sample release tarball of app at version, as `make setup` built it."""
    return f"{RELEASES_DIR}/{app}-{version}.tar.gz"


def settings_prefix(strategy: str) -> str:
    """The prefix of a strategy playbook's variables: hot_upgrade takes the rolling role's (rolling_*)."""
    return "rolling" if strategy == "hot_upgrade" else strategy


def deploy_vars(strategy: str, version: str, app: str = APP, **more) -> dict:
    """Extra vars of a strategy playbook (rolling, hot_upgrade, blue_green) deploying a sample tarball:
    <prefix>_app_name, _version, _src, then more (report path, hooks, beamops_hosts ...) as given."""
    prefix = settings_prefix(strategy)
    return {
        f"{prefix}_app_name": app,
        f"{prefix}_version": version,
        f"{prefix}_src": tarball(version, app),
        **more,
    }


def current_link(container: str, root: str = APP_ROOT) -> str:
    """Where <root>/current points on a node (e.g. releases/1.1.0)."""
    return podman_exec(container, "readlink", f"{root}/current").stdout.strip()


def scenario_dir(test_file: str) -> Path:
    """A scenario's directory, for its tests (test_file: their __file__): Molecule's, else the one above
    tests/ or cases/."""
    return Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(test_file).resolve().parents[1]))


def run_playbook(
    playbook: str, inventory: Path, extra_vars: dict, timeout: float = 900, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """ansible-playbook of this collection (e.g. beamops.deploy.rolling) against the lab; options are
    more command-line options (--check, --diff ...)."""
    argv = ["ansible-playbook", "-i", str(inventory), playbook, *options, "-e", json.dumps(extra_vars)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=playbook_env())


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """A run's PLAY RECAP counters per host (ok, changed, failed, ...), summed over its plays."""
    totals: dict[str, dict[str, int]] = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", stdout, re.MULTILINE):
        for key, value in re.findall(r"(\w+)=(\d+)", counters):
            totals.setdefault(host, {}).setdefault(key, 0)
            totals[host][key] += int(value)
    return totals


def node_get(node: str, path: str) -> dict:
    """The node's own HTTP answer, read inside its container (not through HAProxy)."""
    code = f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080{path}', timeout=5).read().decode())"
    return json.loads(podman_exec(node, "python3", "-c", code).stdout)


def app_state(nodes: tuple[str, ...] = NODES) -> dict[str, tuple[int, int]]:
    """Each node's OS pid and the sample's counter (bumped first, so there is state to carry over):
    what a hot upgrade must keep. Give it to app_state_lost after the upgrade."""
    before = {}
    for node in nodes:
        node_get(node, "/counter")
        before[node] = (node_get(node, "/pid")["pid"], node_get(node, "/counter/value")["count"])
    return before


def app_state_lost(before: dict[str, tuple[int, int]], version: str, shape: str) -> list[str]:
    """What a hot upgrade to version did not carry over since app_state() read `before`: a node that
    restarted (another OS pid), answers another version, holds its counter in another shape than the
    new code_change makes, or lost counts. Empty when every node kept its process and its state."""
    lost = []
    for node, (pid, count) in before.items():
        now = node_get(node, "/pid")["pid"]
        after = node_get(node, "/counter/value")
        if now != pid:
            lost.append(f"{node} restarted (pid {pid}, now {now})")
        if (after["version"], after["state_shape"]) != (version, shape):
            lost.append(
                f"{node} answers {after['version']} with a {after['state_shape']} counter, not {version}/{shape}"
            )
        if after["count"] < count:
            lost.append(f"{node} counted {count} before, {after['count']} after")
    return lost


def figures_dir() -> Path:
    """Where scenarios write their measured figures: .build/figures (kept after destroy)."""
    return Path(os.environ.get("BEAMOPS_BUILD_DIR", LAB_DIR.parent / ".build")) / "figures"


def save_figures(scenario: str, figures: dict, also: str | None = None) -> Path:
    """Write a scenario's measured figures to .build/figures/<lab>-<scenario>.json (kept after destroy),
    and to .build/figures/<also> too when given (a name other tools read whatever the lab's name)."""
    path = figures_dir() / f"{PREFIX}-{scenario}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(figures, indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")
    if also:
        (path.parent / also).write_text(text + "\n", encoding="utf-8")
    print(text)
    return path


def scenario_figures(scenario: str, also: str | None = None):
    """(figures, fixture) for a scenario's test module: `FIGURES, figures = labtools.scenario_figures("x")`.

    Tests put their measurements in the dict; the module-scoped autouse fixture saves it with
    save_figures (also: see there) once the module's tests are done (pytest is imported here only,
    when a test asks).
    """
    import pytest  # noqa: PLC0415 - the demo imports this module without pytest

    figures: dict = {}

    @pytest.fixture(scope="module", autouse=True, name="figures")
    def fixture():
        yield figures
        save_figures(scenario, figures, also=also)

    return figures, fixture


def unit_properties(container: str, unit: str, *props: str) -> dict[str, str]:
    """A systemd unit's properties on a node (`systemctl show`), e.g. MainPID, User, ActiveState."""
    argv = ["systemctl", "show", unit, *(f"--property={p}" for p in props)]
    lines = podman_exec(container, *argv).stdout.splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def process_owner(container: str, pid: str | int) -> str:
    """The user an OS process of a node runs as."""
    return podman_exec(container, "ps", "-o", "user=", "-p", str(pid)).stdout.strip()


def path_exists(container: str, path: str) -> bool:
    """Whether a path exists on a node (as root, so a private home is no obstacle)."""
    return podman_exec(container, "test", "-e", path, check=False).returncode == 0


def app_identity(container: str, app_root: str) -> dict:
    """What the node role recorded for the release under app_root (<root>/.beamops/node.json)."""
    return json.loads(podman_exec(container, "cat", f"{app_root}/.beamops/node.json").stdout)


def set_member_state(server: str, state: str, backend: str = "beam_nodes", addr: tuple[str, int] = ADMIN_ADDR) -> None:
    """`set server BACKEND/SERVER state ready|drain|maint` on HAProxy's admin socket; fails on any answer."""
    answer = haproxy_command(f"set server {backend}/{server} state {state}", addr=addr).strip()
    if answer:
        raise RuntimeError(f"HAProxy refused state {state} for {backend}/{server}: {answer}")


def wait_member(
    server: str, done, what: str, timeout: float = 60.0, interval: float = 0.05, backend: str = "beam_nodes"
) -> float:
    """Poll a backend member's `show stat` row until done(row) is true; return the seconds waited.

    e.g. done=lambda row: row["scur"] == "0" and row["qcur"] == "0" after a drain, or
    done=lambda row: row["status"] == "UP" after ready.
    """
    started = time.monotonic()
    while True:
        row = backend_servers(backend).get(server, {})
        if row and done(row):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{backend}/{server} not {what} after {timeout}s: {row}")
        time.sleep(interval)


def user_infra(repo: Path, versions: tuple[str, ...] = ("1.0.0", "1.1.0")) -> Path:
    """A user's infra repository (extensions/molecule/user_journey/infra copied to ``repo``): its
    inventory reaching this lab over SSH on the published loopback ports (hosts app-1.., group
    erlang_app; the load balancer `edge`, group balancers), a cookie under secrets/, the sample
    tarballs under dist/. The collection is not installed: the caller brings it."""
    shutil.copytree(LAB_DIR.parent / "extensions" / "molecule" / "user_journey" / "infra", repo)
    key = Path(os.environ.get("BEAMOPS_BUILD_DIR", LAB_DIR.parent / ".build")) / "ssh" / "id_ed25519"
    ssh = os.environ.get("BEAMOPS_LAB_SSH_PREFIX", "2220")
    hosts = "\n".join(
        f"        app-{i}:\n          ansible_port: {ssh}{i}\n          haproxy_name: {node}"
        for i, node in enumerate(NODES, start=1)
    )
    (repo / "inventory" / "hosts.yml").write_text(
        "all:\n  vars:\n    ansible_host: 127.0.0.1\n    ansible_user: root\n"
        f"    ansible_ssh_private_key_file: {key}\n  children:\n"
        f"    erlang_app:\n      hosts:\n{hosts}\n"
        f"    balancers:\n      hosts:\n        edge:\n          ansible_port: {ssh}0\n",
        encoding="utf-8",
    )
    (repo / "secrets").mkdir()
    (repo / "secrets" / "erlang-cookie").write_text(secrets.token_hex(16), encoding="utf-8")
    (repo / "dist").mkdir()
    for version in versions:
        shutil.copy(f"{RELEASES_DIR}/{APP}-{version}.tar.gz", repo / "dist")
    return repo


def podman_cp(src: str, dest: str) -> None:
    """Copy a file between the control node and a lab container (`podman cp`, e.g. dest NODE:/tmp/x)."""
    subprocess.run(["podman", "cp", src, dest], check=True, capture_output=True, text=True, timeout=120)


def report_paths(output: str) -> dict[str, Path]:
    """The report paths a run printed ("JSON: <path>" and "Report: <path>", the last of each), in any
    stdout callback's quoting and line folding."""
    said: dict[str, Path] = {}
    for match in re.finditer(r"(JSON|Report):\s+(/[^\s'\"]+\.(?:json|md))", output):
        said[match.group(1)] = Path(match.group(2))
    return said


def run_report(output: str) -> tuple[dict, Path]:
    """The report a run printed at its end: the JSON report read back, and the Markdown summary's
    path (checked to exist)."""
    said = report_paths(output)
    if "JSON" not in said or "Report" not in said:
        raise AssertionError(f"the run printed no report paths: {output[-2000:]}")
    if not said["Report"].is_file():
        raise AssertionError(f"the run printed {said['Report']}, which does not exist")
    return json.loads(said["JSON"].read_text(encoding="utf-8")), said["Report"]
