# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_stats against a fake HAProxy runtime API on a unix socket: one read, a window, and the edge cases."""

from __future__ import annotations

import shutil
import socketserver
import tempfile
import threading
from pathlib import Path

import pytest

from ansible_collections.beamops.deploy.plugins.modules import lb_stats

COLUMNS = (
    "pxname,svname,qcur,scur,stot,econ,eresp,wretr,wredis,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,"
    "hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,qtime,ctime,rtime,ttime"
).split(",")


def csv_row(backend, server, requests=0, r5xx=0, econ=0, rtime=0, status="UP", weight=1, columns=COLUMNS) -> str:
    values = {
        "pxname": backend,
        "svname": server,
        "status": status,
        "weight": weight,
        "stot": requests,
        "req_tot": requests,
        "hrsp_2xx": requests - r5xx,
        "hrsp_5xx": r5xx,
        "econ": econ,
        "rtime": rtime,
        "ttime": rtime,
    }
    return ",".join(str(values.get(c, 0)) for c in columns)


class StatsHAProxy:
    """Answers `show stat [<proxy>|-1] <types> -1` from snapshots: each `show stat` of servers and
    backends moves on to the next snapshot (the last one stays). A snapshot: {backend: [csv rows]}."""

    def __init__(self, snapshots: list[dict[str, list[str]]], columns=COLUMNS):
        self.snapshots = snapshots
        self.columns = columns
        self.commands: list[str] = []
        self.reads = 0
        self._dir = tempfile.mkdtemp(prefix="hst", dir="/tmp")
        self.address = str(Path(self._dir) / "admin.sock")
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(fake.answer(self.rfile.readline().decode().strip()).encode())

        self._server = socketserver.ThreadingUnixStreamServer(self.address, Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, command: str) -> str:
        self.commands.append(command)
        words = command.split()
        if words[:2] != ["show", "stat"]:
            return "Unknown command.\n"
        snapshot = self.snapshots[min(self.reads, len(self.snapshots) - 1)]
        proxy, types = words[2], words[3]
        if types == "2":  # the backends only, to name them in an error
            rows = [r for rows in snapshot.values() for r in rows if ",BACKEND," in r]
        elif proxy == "-1":
            rows = [r for rows in snapshot.values() for r in rows]
        elif proxy in snapshot:
            rows = snapshot[proxy]
        else:
            return "No such proxy.\n"
        if types == "6":  # one read of servers and backends (the tests read one backend, or all at once)
            self.reads += 1
        return "# " + ",".join(self.columns) + "\n" + "".join(r + "\n" for r in rows) + "\n"

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def stats_haproxy():
    started = []

    def make(snapshots, columns=COLUMNS):
        started.append(StatsHAProxy(snapshots, columns))
        return started[-1]

    yield make
    for fake in started:
        fake.stop()


def snapshot(n1, n2, n1_5xx=0, n2_5xx=0, rtime=(5, 5)) -> dict:
    return {
        "beam_nodes": [
            csv_row("beam_nodes", "node1", n1, n1_5xx, rtime=rtime[0]),
            csv_row("beam_nodes", "node2", n2, n2_5xx, rtime=rtime[1]),
            csv_row("beam_nodes", "BACKEND", n1 + n2, n1_5xx + n2_5xx, rtime=max(rtime), weight=2),
        ],
        "spare": [csv_row("spare", "BACKEND", status="DOWN", weight=0)],
    }


def test_one_read_of_every_backend_changes_nothing(stats_haproxy, run_module):
    fake = stats_haproxy([snapshot(100, 80, n1_5xx=3)])
    result = run_module(lb_stats, {"socket": fake.address, "_ansible_check_mode": True})
    assert not result["changed"] and result["window_s"] is None
    assert [(s["backend"], s["server"], s["requests"]) for s in result["servers"]] == [
        ("beam_nodes", "node1", 100),
        ("beam_nodes", "node2", 80),
    ]
    assert result["servers"][0]["responses"]["5xx"] == 3 and "window" not in result["servers"][0]
    assert result["backends"]["beam_nodes"]["servers"] == ["node1", "node2"]
    assert result["backends"]["beam_nodes"]["requests"] == 180
    # An empty backend: its own figures, no servers.
    assert result["backends"]["spare"]["servers"] == [] and result["backends"]["spare"]["status"] == "DOWN"
    assert fake.commands == ["show stat -1 6 -1"]


def test_a_window_gives_each_server_its_deltas_and_ratios(stats_haproxy, run_module):
    fake = stats_haproxy([snapshot(100, 80, rtime=(5, 5)), snapshot(300, 280, n1_5xx=10, rtime=(105, 5))])
    args = {"socket": fake.address, "backend": ["beam_nodes"], "servers": ["node1"], "window_s": 0.3}
    result = run_module(lb_stats, args)
    assert not result["changed"] and 0.3 <= result["window_s"] < 1.5
    [node1] = result["servers"]
    window = node1["window"]
    assert window["requests"] == 200 and window["responses"]["5xx"] == 10 and window["errors"] == 10
    assert window["error_ratio"] == 0.05 and not window["counters_reset"]
    assert window["requests_per_s"] == pytest.approx(200 / result["window_s"], rel=0.01)
    # A plain mean while HAProxy has fewer than 512 samples: (100 * 5 + 200 * m) / 300 = 105.
    assert window["mean_response_time_ms"] == 155.0
    assert result["backends"]["beam_nodes"]["window"]["requests"] == 400
    assert fake.commands == ["show stat beam_nodes 6 -1"] * 2


def test_counters_reset_between_the_reads(stats_haproxy, run_module):
    fake = stats_haproxy([snapshot(5000, 5000), snapshot(40, 50, n1_5xx=4)])
    result = run_module(lb_stats, {"socket": fake.address, "backend": ["beam_nodes"], "window_s": 0.1})
    node1, node2 = result["servers"]
    assert node1["window"]["counters_reset"] and node1["window"]["requests"] == 40
    assert node1["window"]["error_ratio"] == 0.1 and node2["window"]["requests"] == 50


def test_an_older_haproxy_without_some_columns(stats_haproxy, run_module):
    old = [c for c in COLUMNS if c not in ("req_tot", "hrsp_other", "qtime", "ctime", "rtime", "ttime")]
    rows = {"app": [csv_row("app", "web1", 40, 2, columns=old), csv_row("app", "BACKEND", 40, 2, columns=old)]}
    later = {"app": [csv_row("app", "web1", 60, 4, columns=old), csv_row("app", "BACKEND", 60, 4, columns=old)]}
    fake = stats_haproxy([rows, later], columns=old)
    result = run_module(lb_stats, {"socket": fake.address, "window_s": 0.1})
    [web1] = result["servers"]
    assert web1["requests_from"] == "responses" and "req_tot" in web1["missing"]
    assert web1["window"]["requests"] == 20 and web1["window"]["errors"] == 2
    assert web1["window"]["mean_response_time_ms"] is None and web1["response_time_ms"] is None


def test_unknown_backend_and_server_fail_naming_what_is_there(stats_haproxy, run_module):
    fake = stats_haproxy([snapshot(1, 1)])
    missing = run_module(lb_stats, {"socket": fake.address, "backend": ["nope"]})
    assert missing["failed"] and "Backend 'nope' not found" in missing["msg"]
    assert "backends there: beam_nodes, spare" in missing["msg"]
    server = run_module(lb_stats, {"socket": fake.address, "backend": ["beam_nodes"], "servers": ["node9"]})
    assert server["failed"] and "node9 not found" in server["msg"] and "node1, node2" in server["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"window_s": 0}, "window_s must be above 0"),
        ({"window_s": 7200}, "at most 3600"),
        ({"backend": ["beam_nodes;clear counters all"]}, "Invalid backend"),
        ({"servers": ["node1 node2"]}, "Invalid servers"),
        ({"admin_host": "127.0.0.1", "admin_port": 70000}, "admin_port must be between 1 and 65535"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(stats_haproxy, run_module, args, message):
    fake = stats_haproxy([snapshot(1, 1)])
    result = run_module(lb_stats, {"socket": fake.address, **args} if "admin_host" not in args else args)
    assert result["failed"] and message in result["msg"], result
    assert fake.commands == []


def test_an_unreachable_socket_says_where(run_module, tmp_path):
    result = run_module(lb_stats, {"socket": str(tmp_path / "none.sock")})
    assert result["failed"] and "none.sock does not exist" in result["msg"]


def test_the_old_option_names_still_work_and_warn(stats_haproxy, run_module):
    fake = stats_haproxy([snapshot(1, 1)])
    result = run_module(lb_stats, {"host": "127.0.0.1", "port": 1, "socket_timeout": 2})
    assert result["failed"] and "tcp://127.0.0.1:1" in result["msg"]
    # Ansible gathers deprecations process-wide: other modules' tests may have added theirs.
    deprecated = {d["event"]["msg"].split("'")[1] for d in result["deprecations"]}
    assert {"host", "port", "socket_timeout"} <= deprecated, deprecated
    assert fake.commands == []
