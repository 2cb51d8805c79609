# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault matrix (issue 9): each case injects one fault at a chosen point of a real rolling or
hot deploy (the collection's playbooks, as a user runs them) under live load through both load
balancers, then records what the user saw, the failed requests, the version every node serves,
every member's state on both load balancers and what a plain re-run does. One row per case in
.build/figures/faults.json (and <lab>-faults.json), under "rows"; the steps run in order on one lab.

Every row ends with every node serving one of the versions involved and every member UP and ready
on both load balancers.
"""

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import labtools
import pytest

HOOKS = labtools.scenario_dir(__file__) / "hooks"
APP = labtools.APP
ROOT = labtools.APP_ROOT
N1, N2, N3 = labtools.NODES
LB1 = labtools.LB
LB2 = f"{labtools.PREFIX}-lb2"
ADMIN = {lb: labtools.admin_addr(lb) for lb in (LB1, LB2)}
URL2 = f"http://127.0.0.1:{os.environ.get('BEAMOPS_LAB_LB2_HTTP_PORT', '18081')}"
FIGURES, figures = labtools.scenario_figures("faults", also="faults.json")
ROWS: list[dict] = FIGURES.setdefault("rows", [])
# Faster probes than the defaults: the lab's release answers /health within a second of starting.
FAST = {"rolling_probe_successes": 2, "rolling_probe_interval": 1}
# Hot upgrades here drain first (an install that fails may restart the node), probes as above.
HOT = {"rolling_drain": True, "rolling_probe_successes": 2}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    labtools.write_inventory(base / "inventory.yml", lbs=(LB1, LB2))
    return base


# --- reading the lab ---------------------------------------------------------------------------


def members(lb):
    """Every member of beam_nodes on one load balancer: "<status>/<admin state>" (ready/drain/maint)."""
    return {name: f"{status}/{admin}" for name, (status, admin) in labtools.member_states(lb).items()}


def lb_states():
    return {lb: members(lb) for lb in ADMIN}


def serving(timeout=60.0):
    """Wait until every member is UP and ready on both load balancers; return the states."""
    deadline = time.monotonic() + timeout
    while True:
        states = lb_states()
        if all(s == "UP/ready" for view in states.values() for s in view.values()):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"not every member UP and ready after {timeout}s: {states}")
        time.sleep(0.5)


def versions():
    return {n: labtools.node_get(n, "/")["version"] for n in labtools.NODES}


def other(version):
    return "1.1.0" if version == "1.0.0" else "1.0.0"


def next_target(node):
    """Once every member serves again: the version node does not run, the next deploy's target."""
    serving()
    return other(versions()[node])


class Watch:
    """Samples every member's state on both load balancers while something runs: the distinct
    states each member went through, in order, per load balancer."""

    def __init__(self, interval=0.2):
        self.seen = {lb: {} for lb in ADMIN}
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            for lb in ADMIN:
                try:
                    view = members(lb)
                except OSError:
                    view = {}
                for name, state in view.items():
                    trail = self.seen[lb].setdefault(name, [])
                    if not trail or trail[-1] != state:
                        trail.append(state)
            time.sleep(0.2)

    def stop(self):
        self._stop = True
        self._thread.join(timeout=10)
        return self.seen


class Load:
    """The load generator through both load balancers (or the first only)."""

    def __init__(self, both=True):
        urls = [labtools.LB_URL, URL2] if both else [labtools.LB_URL]
        self.loads = [labtools.BackgroundLoad(600, "--concurrency", "3", url=url) for url in urls]

    def stop(self):
        summaries = [load.stop() for load in self.loads]
        errors = {}
        for summary in summaries:
            for key, value in summary["errors"].items():
                errors[key] = errors.get(key, 0) + value
        return {"failed": sum(s["failed"] for s in summaries), "ok": sum(s["ok"] for s in summaries), "errors": errors}


# --- running the playbooks ---------------------------------------------------------------------


def env():
    return labtools.playbook_env(ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")


def start(work, extra, playbook="beamops.deploy.rolling", name="run"):
    argv = ["ansible-playbook", "-i", str(work / "inventory.yml"), playbook, "-e", json.dumps(extra)]
    out = open(work / f"{name}.log", "w", encoding="utf-8")
    proc = subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=work, env=env(), start_new_session=True
    )
    proc.log, proc.out = work / f"{name}.log", out
    return proc


def finish(proc, timeout=600):
    proc.wait(timeout=timeout)
    proc.out.close()
    return proc.returncode, proc.log.read_text(encoding="utf-8")


def play(work, extra, playbook="beamops.deploy.rolling", name="run"):
    return finish(start(work, extra, playbook, name))


def said(stdout):
    """The first line of what ended the run (its last fatal message), else the last summary line."""
    for line in reversed(stdout.splitlines()):
        match = re.match(r"^fatal: \[[^\]]+\].*?=> (\{.*\})\s*$", line)
        if match:
            try:
                return json.loads(match.group(1)).get("msg", "").splitlines()[0]
            except (ValueError, IndexError):
                return line[:300]
    for line in stdout.splitlines():
        if line.startswith("[ERROR]"):
            return line[:300]
    hosts = re.findall(r'"(\S+ \(batch of \d+\): [^"]+)"', stdout)
    return hosts[-1] if hosts else "(no message)"


def rolling(version, hosts=None, **extra):
    return labtools.deploy_vars("rolling", version, **{**({"beamops_hosts": hosts} if hosts else {}), **FAST, **extra})


def row(fault, injected_at, outcome, load, message, recover_s=0.0, rerun="", **more):
    states = serving()
    now = versions()
    entry = {
        "fault": fault,
        "injected_at": injected_at,
        "outcome": outcome,
        "failed_requests": load["failed"] if load else 0,
        "requests_ok": load["ok"] if load else 0,
        "recover_s": round(recover_s, 1),
        "message": message,
        "rerun": rerun,
        "versions": now,
        "lb_states": states,
        **more,
    }
    ROWS.append(entry)
    print(json.dumps(entry, indent=2))
    return entry


def refused(fault, result, out, injected_at="preflight", since=None, **more):
    """The row of a run refused before any change: what the user saw is its first line; recovered in the
    seconds from `since` (time.monotonic(), when the fault was removed) to now."""
    recover_s = time.monotonic() - since if since is not None else 0.0
    return row(fault, injected_at, "refused, nothing changed", result, said(out), recover_s=recover_s, **more)


def untouched():
    """What a refusal must leave alone: every member's state, every node's current and pid."""
    return {
        "lb": lb_states(),
        "nodes": {n: (labtools.current_link(n), labtools.node_get(n, "/pid")["pid"]) for n in labtools.NODES},
    }


# --- refused before any change: bad tarballs ---------------------------------------------------


def bad_tarballs(base):
    good = labtools.tarball("1.1.0")
    data = Path(good).read_bytes()
    made = {}
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    made["corrupt (one byte flipped)"] = bytes(flipped)
    made["truncated (60 % of the file)"] = data[: len(data) * 6 // 10]
    with tarfile.open(good, "r:gz") as src:
        entries = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src.getmembers()]

    def hostile(extra_member):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as out:
            for member, content in entries:
                out.addfile(member, io.BytesIO(content) if content is not None else None)
            out.addfile(extra_member, io.BytesIO(b"x") if extra_member.isreg() else None)
        return buf.getvalue()

    def member(name, kind=tarfile.REGTYPE, link=""):
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
        return info

    made["../ entry"] = hostile(member("releases/1.1.0/../../../../tmp/beamops-evil"))
    made["absolute path"] = hostile(member("/tmp/beamops-evil"))
    made["symlink leaving the release"] = hostile(member("lib/evil", tarfile.SYMTYPE, "../../../../etc"))
    made["hard link leaving the release"] = hostile(member("lib/evil", tarfile.LNKTYPE, "../../etc/shadow"))
    paths = {}
    for i, (what, content) in enumerate(made.items()):
        path = base / f"bad{i}" / f"{APP}-1.1.0.tar.gz"
        path.parent.mkdir()
        path.write_bytes(content)
        paths[what] = path
    return paths


def test_bad_tarballs_are_refused_on_every_node_before_any_drain(work):
    serving()
    before = untouched()
    for what, path in bad_tarballs(work).items():
        load = Load()
        rc, out = play(work, rolling("1.1.0", rolling_src=str(path)), name="bad")
        result = load.stop()
        assert rc != 0
        assert "refused before any change, on every node" in out, out[-3000:]
        case = "9" if what.startswith(("corrupt", "truncated")) else "10"
        refused(f"{case}. tarball {what}", result, out, injected_at="preflight (control node)")
    # A checksum that differs.
    load = Load()
    rc, out = play(work, rolling("1.1.0", rolling_checksum="0" * 64), name="bad")
    result = load.stop()
    sha = hashlib.sha256(Path(labtools.tarball("1.1.0")).read_bytes()).hexdigest()
    said = " ".join(out.split())  # the callback may fold a long message
    assert rc != 0 and f"has sha256 {sha}, not {'0' * 64}" in said, out[-3000:]
    assert "Fix rolling_src (rebuild or download the release again) or rolling_checksum" in said
    assert untouched() == before
    refused("9. tarball checksum differs", result, out, injected_at="preflight (control node)")
    # A hook file that is not there would fail only at its stage, its member drained: refused at preflight.
    missing = str(HOOKS / "no_such_hook.yml")
    rc, out = play(work, rolling("1.1.0", rolling_hooks={"after_drain": missing}), name="bad")
    said_hook = " ".join(out.split())
    assert (
        rc != 0
        and f"rolling_hooks names task files that are not on the control node: after_drain={missing}" in said_hook
    )
    assert untouched() == before


# --- refused before any change: lb, node ---------------------------------------------------------


def test_lb_socket_unreachable_at_preflight_is_refused(work):
    serving()
    before = untouched()
    labtools.podman_exec(LB1, "mv", "/run/haproxy/admin.sock", "/run/haproxy/admin.sock.away")
    try:
        load = Load()
        rc, out = play(work, rolling(other(versions()[N1])), name="lb-pre")
        result = load.stop()
    finally:
        labtools.podman_exec(LB1, "mv", "/run/haproxy/admin.sock.away", "/run/haproxy/admin.sock")
    assert rc != 0 and "Cannot connect to the HAProxy admin socket" in out, out[-3000:]
    assert untouched() == before
    refused("3. LB admin socket unreachable", result, out)


def test_second_lb_down_at_preflight_is_refused(work):
    serving()
    before = untouched()["nodes"]
    labtools.podman_exec(LB2, "sh", "-c", "kill $(cat /run/haproxy.pid)")
    try:
        load = Load(both=False)
        rc, out = play(work, rolling(other(versions()[N1])), name="lb2-down")
        result = load.stop()
    finally:
        labtools.podman_exec(LB2, "haproxy", "-D", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid")
    started = time.monotonic()
    assert rc != 0 and LB2 in out, out[-3000:]
    assert untouched()["nodes"] == before
    serving()
    rerun = "HAProxy started again: every member UP (its own checks)"
    refused("5. second LB down (HAProxy stopped)", result, out, since=started, rerun=rerun)


def test_node_down_is_refused_with_the_host_named(work):
    target = next_target(N1)
    labtools.stop_node(N3)
    try:
        load = Load()
        rc, out = play(work, rolling(target), name="node-down")
        result = load.stop()
        assert rc != 0 and f"{N3} runs no {APP} node" in out, out[-3000:]
    finally:
        labtools.start_node(N3)
    rerun = "node started again; rolling_start_stopped=true would start it"
    refused("6. a node down before the deploy", result, out, since=time.monotonic(), rerun=rerun)


# --- two deploys at once, two load balancers ----------------------------------------------------


def test_second_deploy_is_refused_by_the_lock_and_both_lbs_drain_and_ready(work):
    target = next_target(N1)
    load = Load()
    watch = Watch()
    first = start(work, rolling(target, N1), name="first")
    deadline = time.monotonic() + 120
    while not labtools.path_exists(N1, f"{ROOT}/.beamops/deploy.lock/holder.json"):
        assert time.monotonic() < deadline and first.poll() is None, "the first deploy never took its lock"
        time.sleep(0.3)
    rc2, out2 = play(work, rolling(target, N1), name="second")
    rc1, out1 = finish(first)
    trails = watch.stop()
    result = load.stop()
    assert rc2 != 0 and "another deploy holds" in out2 and "since" in out2, out2[-3000:]
    assert rc1 == 0, out1[-3000:]
    assert versions()[N1] == target
    assert not labtools.path_exists(N1, f"{ROOT}/.beamops/deploy.lock")
    for lb in ADMIN:
        assert any(s.endswith("/drain") for s in trails[lb][N1]), trails
        assert trails[lb][N1][-1] == "UP/ready", trails
    row(
        "2. two deploys of the same app at once",
        "second started while the first deploys node1",
        "second refused by the lock; first completed",
        result,
        said(out2),
        rerun="after the first: the same command is a no-op (node1 already runs it)",
        first=said(out1),
    )
    row(
        "5. two load balancers",
        "every deploy",
        "node1 drained and readied on both",
        result,
        said(out1),
        trails={lb: trails[lb][N1] for lb in ADMIN},
    )


# --- ansible-playbook killed after the drain ----------------------------------------------------


def complete_current(node):
    link = labtools.current_link(node)
    version = link.rsplit("/", 1)[-1]
    for path in (f"bin/{APP}", f"releases/{version}/{APP}.rel"):
        assert labtools.path_exists(node, f"{ROOT}/current/{path}"), f"{node}: current -> {link} lacks {path}"
    return link


def test_killed_run_is_completed_by_a_plain_rerun(work):
    target = next_target(N2)
    flag = work / "drained"
    extra = rolling(
        target, N2, rolling_hooks={"after_drain": str(HOOKS / "flag.yml")}, faults_flag=str(flag), faults_victim=N2
    )
    load = Load()
    proc = start(work, extra, name="killed")
    deadline = time.monotonic() + 180
    while not Path(f"{flag}.{N2}").exists():
        assert time.monotonic() < deadline and proc.poll() is None, finish(proc)[1][-3000:]
        time.sleep(0.2)
    time.sleep(2.0)  # into the deploy of node2: the upload and unpack
    os.killpg(proc.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    finish(proc)
    time.sleep(3)  # what the killed run left, once its remote tasks ended
    left = {lb: members(lb)[N2] for lb in ADMIN}
    link_after_kill = complete_current(N2)
    rc, out = play(work, rolling(target, N2), name="rerun")
    recover = time.monotonic() - killed_at
    result = load.stop()
    assert rc == 0, out[-3000:]
    assert f"took over the deploy lock of {N2} from " in " ".join(out.split()), out[-3000:]
    assert "its process is gone" in " ".join(out.split()), out[-3000:]
    assert versions()[N2] == target
    complete_current(N2)
    assert labtools.podman_exec(N2, "find", ROOT, "-name", ".beamops-tmp-*").stdout.strip() == ""
    assert not labtools.path_exists(N2, f"{ROOT}/.beamops/drained.json")
    row(
        "1. ansible-playbook killed (SIGKILL)",
        "2 s after node2 was drained (its switch and restart)",
        "re-run took the stale lock over, readied and completed node2",
        result,
        "(killed: no message) / re-run: " + said(out),
        recover_s=recover,
        rerun="completes the deploy",
        left_by_kill=left,
        current_after_kill=link_after_kill,
    )


# --- the load balancer lost after the drain ------------------------------------------------------


def test_lb_lost_after_the_drain(work):
    # Back within the bounded wait: readied, the run completes.
    target = next_target(N3)
    hooks = {"before_ready": str(HOOKS / "lb_away.yml")}
    load = Load()
    proc = start(work, rolling(target, N3, rolling_hooks=hooks, faults_victim=N3), name="lb-back")
    deadline = time.monotonic() + 180
    while not labtools.path_exists(LB1, "/run/haproxy/admin.sock.away"):
        assert time.monotonic() < deadline and proc.poll() is None, finish(proc)[1][-3000:]
        time.sleep(0.2)
    time.sleep(8)
    labtools.podman_exec(LB1, "mv", "/run/haproxy/admin.sock.away", "/run/haproxy/admin.sock")
    back = time.monotonic()
    rc, out = finish(proc)
    result = load.stop()
    assert rc == 0, out[-3000:]
    row(
        "3. LB admin socket lost after the drain, back in 8 s",
        "before ready of node3",
        "ready retried, node3 readied, deploy completed",
        result,
        said(out),
        recover_s=time.monotonic() - back,
    )

    # Gone longer than the bounded wait: the run fails naming the member; a plain re-run readies it.
    target = next_target(N3)
    load = Load()
    rc, out = play(
        work, rolling(target, N3, rolling_hooks=hooks, faults_victim=N3, rolling_lb_retry_timeout=9), name="lb-lost"
    )
    failed_at = time.monotonic()
    assert rc != 0 and "OUT OF ROTATION" in out and N3 in out and "set server beam_nodes/" in out, out[-3000:]
    labtools.podman_exec(LB1, "mv", "/run/haproxy/admin.sock.away", "/run/haproxy/admin.sock")
    assert members(LB1)[N3].endswith("/drain")
    rc2, out2 = play(work, rolling(target, N3), name="lb-rerun")
    recover = time.monotonic() - failed_at
    result = load.stop()
    assert rc2 == 0, out2[-3000:]
    assert "was left drained by an interrupted run" in out2
    row(
        "3. LB admin socket lost after the drain, longer than rolling_lb_retry_timeout (9 s)",
        "before ready of node3",
        "run failed naming the member left drained; a plain re-run readied it",
        result,
        said(out),
        recover_s=recover,
        rerun="readies node3 (drain mark), nothing else to do",
    )


# --- HAProxy reloaded while the member drains -----------------------------------------------------


def test_haproxy_reload_while_draining(work):
    target = next_target(N1)
    load = Load()
    watch = Watch()
    rc, out = play(
        work,
        rolling(target, N1, rolling_hooks={"after_drain": str(HOOKS / "lb_reload.yml")}, faults_victim=N1),
        name="reload",
    )
    trails = watch.stop()
    result = load.stop()
    assert rc == 0, out[-3000:]
    trail = trails[LB1][N1]
    # drained, ready again after the reload (runtime state forgotten), drained again before the restart
    # a trail entry is "<status>/<admin state>", and a status may hold a slash itself ("UP 1/2")
    admin = "".join({"drain": "d", "ready": "r"}.get(s.rsplit("/", 1)[1], "m") for s in trail)
    assert re.search("d+r+d+", admin), trail
    row(
        "4. HAProxy reloaded while node1 drains",
        "after the drain of node1, before its restart",
        "drain re-applied before the restart, deploy completed",
        result,
        said(out),
        trail_lb1=trail,
    )


# --- slow start, disk full, hot kill, flapping ----------------------------------------------------


def test_slow_start_is_rolled_back_and_stops_the_rollout(work):
    serving()
    before = versions()
    target = other(before[N1])
    dropin = f"/etc/systemd/system/{APP}.service.d"
    labtools.podman_exec(N1, "mkdir", "-p", dropin)
    conf = work / "slow.conf"
    conf.write_text(
        f"[Service]\nExecStartPre=/bin/sh -c 'case $$(readlink {ROOT}/current) in *{target}) sleep 45;; esac'\n",
        encoding="utf-8",
    )
    subprocess.run(["podman", "cp", str(conf), f"{N1}:{dropin}/slow.conf"], check=True)
    labtools.podman_exec(N1, "systemctl", "daemon-reload")
    try:
        load = Load()
        started = time.monotonic()
        rc, out = play(work, rolling(target, rolling_start_timeout=15), name="slow")
        seconds = time.monotonic() - started
        result = load.stop()
    finally:
        labtools.podman_exec(N1, "rm", "-rf", dropin)
        labtools.podman_exec(N1, "systemctl", "daemon-reload")
    assert rc != 0 and "rolled back" in out and "The rollout stops here" in out, out[-3000:]
    assert versions() == before
    report = labtools.run_report(out)[0]
    # N1 alone went through a batch; a node already on the target is reported without one (and left alone).
    assert [h["host"] for h in report["hosts"] if h["batch"]] == [N1] and report["outcome"] == "rolled_back"
    assert all(h["outcome"] == "unchanged" for h in report["hosts"] if not h["batch"]), report["hosts"]
    row(
        "7. node1 starts slower (45 s) than rolling_start_timeout (15 s)",
        "restart of node1 (canary)",
        "rolled back, rollout stopped (node2, node3 untouched)",
        result,
        said(out),
        recover_s=seconds,
    )


def test_disk_full_during_unpack(work):
    serving()
    before_link = labtools.current_link(N3)
    free = int(labtools.podman_exec(N3, "df", "--output=avail", "-B1", f"{ROOT}/releases").stdout.split()[-1])
    labtools.podman_exec(N3, "fallocate", "-l", str(max(0, free - 2 * 1024 * 1024)), f"{ROOT}/releases/.ballast")
    try:
        load = Load()
        rc, out = play(work, rolling("1.3.0", N3), name="full")
        result = load.stop()
        # Refused at preflight, where every node that needs the release gets it before any member drains.
        assert rc != 0 and "could not take" in out and "No member was drained" in out, out[-3000:]
        assert "Drain the member" not in out, out[-3000:]
        message = said(out)
        assert labtools.current_link(N3) == before_link
        assert not labtools.path_exists(N3, f"{ROOT}/releases/1.3.0")
        assert labtools.podman_exec(N3, "find", ROOT, "-name", ".beamops-tmp-*").stdout.strip() == ""
    finally:
        labtools.podman_exec(N3, "rm", "-f", f"{ROOT}/releases/.ballast")
    cleared = time.monotonic()
    load2 = Load()
    rc2, out2 = play(work, rolling("1.3.0", N3), name="full-rerun")
    result2 = load2.stop()
    assert rc2 == 0, out2[-3000:]
    assert versions()[N3] == "1.3.0"
    release_error = re.search(r"No space left on device[^\"]{0,80}", out)
    row(
        "8. disk full on node3 (releases/ on a full tmpfs)",
        "unpack of 1.3.0 on node3",
        "refused at preflight before any drain, nothing changed; re-run with space back deployed 1.3.0",
        {"failed": result["failed"] + result2["failed"], "ok": result["ok"] + result2["ok"]},
        message,
        recover_s=time.monotonic() - cleared,
        rerun="deploys 1.3.0 once space is back",
        release_error=release_error.group(0) if release_error else "",
    )


def test_vm_killed_between_install_and_make_permanent(work):
    serving()
    if versions()[N1] != "1.1.0":
        rc, out = play(work, rolling("1.1.0", N1), name="to-110")
        assert rc == 0, out[-3000:]
    serving()
    extra = labtools.deploy_vars(
        "hot_upgrade",
        "1.2.0",
        **HOT,
        beamops_hosts=N1,
        rolling_hooks={"after_install": str(HOOKS / "vm_kill.yml")},
        faults_victim=N1,
    )
    load = Load()
    started = time.monotonic()
    rc, out = play(work, extra, playbook="beamops.deploy.hot_upgrade", name="hot-kill")
    seconds = time.monotonic() - started
    result = load.stop()
    assert rc != 0 and "rolled back" in out, out[-3000:]
    report = labtools.run_report(out)[0]
    assert report["outcome"] == "rolled_back" and report["hosts"][0]["host"] == N1
    assert versions()[N1] == "1.1.0"
    permanent = labtools.node_script(N1, "eval", "release_handler:which_releases(permanent).").stdout
    assert '"1.1.0"' in permanent, permanent
    row(
        "11. node1's VM killed (SIGKILL) after the hot install",
        "between install and make_permanent (drained)",
        "systemd restarted it on the permanent 1.1.0; reported rolled_back, rollout stopped",
        result,
        said(out),
        recover_s=seconds,
    )


def test_flapping_health_is_never_counted_healthy(work):
    target = next_target(N2)
    labtools.podman_exec(N2, "rm", "-f", "/tmp/beamops-flap.stop")
    labtools.podman_cp(str(labtools.LAB_DIR / "flapping_http.py"), f"{N2}:/tmp/flapping_http.py")
    follow = ["/tmp/beamops-flap.stop", "http://127.0.0.1:8080/health"]
    subprocess.run(["podman", "exec", "-d", N2, "python3", "/tmp/flapping_http.py", "8099", "300", *follow], check=True)
    time.sleep(1)
    try:
        load = Load()
        extra = rolling(
            target,
            N2,
            rolling_probe_url="http://127.0.0.1:8099/health",
            rolling_probe_successes=3,
            rolling_probe_retries=8,
            rolling_hooks={"before_rollback": str(HOOKS / "flap_stop.yml")},
            faults_victim=N2,
        )
        rc, out = play(work, extra, name="flap")
        result = load.stop()
    finally:
        labtools.podman_exec(N2, "sh", "-c", "kill $(cat /tmp/flapping_http.pid)", check=False)
    assert rc != 0 and "rolled back" in out, out[-3000:]
    assert versions()[N2] == other(target)
    row(
        "12. health endpoint flapping 200/500",
        "probe of node2 after its restart",
        "never counted healthy (3 consecutive needed): rolled back, rollout stopped",
        result,
        said(out),
    )


# --- mixed sequences: cold, hot, cold back, hot again, rollback ------------------------------------


def set_state(node, state):
    """`set server beam_nodes/<node> state <state>` on both load balancers."""
    for addr in ADMIN.values():
        labtools.set_member_state(node, state, addr=addr)


def cold_restart(node):
    """Drain the node on both load balancers, `systemctl restart` its unit, wait for it, ready it."""
    set_state(node, "drain")
    deadline = time.monotonic() + 60
    while any(sessions(lb, node) for lb in ADMIN):
        assert time.monotonic() < deadline, "sessions never reached 0 after the drain"
        time.sleep(0.2)
    labtools.podman_exec(node, "systemctl", "restart", labtools.node_identity(node)["service_name"])
    labtools.wait_answering(node)
    set_state(node, "ready")
    serving()


def sessions(lb, node):
    row = labtools.backend_servers(addr=ADMIN[lb])[node]
    return int(row["scur"] or 0) + int(row["qcur"] or 0)


def node_view(node):
    """What the node itself says (release_info, run as the release's user) and what current names."""
    info = labtools.run_module(
        node, "beamops.deploy.release_info", {"name": APP, "root": ROOT}, become_user=labtools.app_user(node)
    )
    return {
        "running": info["node"]["running_version"],
        "serving": labtools.node_get(node, "/")["version"],
        "current": labtools.current_link(node).rsplit("/", 1)[-1],
        "boots": info.get("start_script_version"),
    }


def exactly(node, version, step):
    """The node runs and serves version, current names it, and a cold restart boots it."""
    seen = node_view(node)
    assert seen == {"running": version, "serving": version, "current": version, "boots": version}, (step, seen)
    cold_restart(node)
    after = node_view(node)
    assert after == seen, (step, "after a cold restart", after)
    return {"step": step, **seen, "after_restart": after["running"]}


def test_mixed_sequence_cold_hot_cold_hot_rollback(work):
    """Cold to 1.1.0, hot to 1.2.0, cold back to 1.1.0, hot to 1.2.0 again, rollback (the hot_upgrade
    module's state=rolled_back: a downgrade through the relup), on node1 under load. After each step
    node1 runs exactly the version asked for, current names it, and a cold restart boots it."""
    serving()
    steps = [
        ("cold deploy 1.1.0 (rolling)", "1.1.0", "beamops.deploy.rolling", rolling("1.1.0", N1)),
        (
            "hot upgrade 1.2.0 (rolling, method hot)",
            "1.2.0",
            "beamops.deploy.rolling",
            rolling("1.2.0", N1, rolling_method="hot"),
        ),
        ("cold deploy back to 1.1.0 (rolling)", "1.1.0", "beamops.deploy.rolling", rolling("1.1.0", N1)),
        (
            "hot upgrade 1.2.0 again (hot_upgrade playbook)",
            "1.2.0",
            "beamops.deploy.hot_upgrade",
            labtools.deploy_vars("hot_upgrade", "1.2.0", **HOT, beamops_hosts=N1),
        ),
    ]
    load = Load()
    started = time.monotonic()
    trail = []
    try:
        for i, (step, version, playbook, extra) in enumerate(steps):
            rc, out = play(work, extra, playbook=playbook, name=f"mixed{i}")
            assert rc == 0, (step, out[-3000:])
            trail.append(exactly(N1, version, step))
        # Rollback of the hot upgrade: drained, as for any install that may restart the node.
        set_state(N1, "drain")
        back = labtools.run_module(
            N1,
            "beamops.deploy.hot_upgrade",
            {"name": APP, "root": ROOT, "state": "rolled_back"},
            become_user=labtools.app_user(N1),
        )
        set_state(N1, "ready")
        assert not back.get("failed") and back["version"] == "1.1.0", back
        assert not back["node_restarted"], back
        trail.append(exactly(N1, "1.1.0", "rollback (hot_upgrade state=rolled_back: downgrade through the relup)"))
    finally:
        result = load.stop()
    print(json.dumps(trail, indent=2))
    renamed = back.get("renamed") or {}
    row(
        "mixed sequence on node1: cold 1.1.0, hot 1.2.0, cold 1.1.0, hot 1.2.0, rollback",
        "every step, each followed by a cold restart (systemctl restart, drained)",
        "each step: node1 ran exactly the version asked, current named it, the restart booted it; "
        "rollback = hot_upgrade state=rolled_back, a downgrade 1.2.0 -> 1.1.0 through the relup, no restart",
        result,
        f"hot_upgrade state=rolled_back: {back['from_version']} -> {back['version']} (permanent); "
        f"releases/{renamed.get('from')} renamed releases/{renamed.get('to')}; current names {back.get('current')}",
        seconds=round(time.monotonic() - started, 1),
        steps=trail,
    )


# --- cases proved by other scenarios --------------------------------------------------------------


def test_cases_proved_elsewhere():
    rolling_figures = {}
    for path in sorted(labtools.figures_dir().glob("*-rolling.json")):
        rolling_figures = json.loads(path.read_text())
        break
    unhealthy = rolling_figures.get("beamops.deploy.rolling 1.1.0-unhealthy", {})
    for fault, where, outcome, failed, scenario in [
        (
            "unhealthy canary",
            "probe of the canary",
            "rolled back, rollout stopped",
            unhealthy.get("failed"),
            "rolling: test_failed_probe_on_the_canary_rolls_it_back_and_stops_the_rollout",
        ),
        (
            "crashing code_change",
            "hot install",
            "node restarted on the old release, clear error",
            None,
            "node_modules: test_crashing_code_change_fails_clearly_and_the_node_serves_the_old_version",
        ),
        (
            "relup that does not cover the running version",
            "preflight",
            "refused before any change",
            None,
            "node_modules: test_relup_that_does_not_cover_the_running_version_is_refused_...; "
            "user_journey: test_preflight_refuses_before_any_change, case 'relup from another version'",
        ),
        (
            "release stuck 'unpacked' by an earlier failure",
            "hot install",
            "cleared, then installed",
            None,
            "none on the lab: hot_upgrade clears it (plugins/modules/hot_upgrade.py), unit tests only",
        ),
    ]:
        ROWS.append(
            {
                "fault": fault,
                "injected_at": where,
                "outcome": outcome,
                "failed_requests": failed,
                "recover_s": None,
                "message": f"see scenario {scenario}",
                "proved_by": scenario,
            }
        )
