# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The load generator against a real HTTP server on loopback that answers, fails and cuts off."""

import json
import socket
import threading
import urllib.parse

import loadgen
import pytest

VERSION = "1.0.0"


def sample_answer(handler, mode):
    """Speaks like the sample release: JSON with version and node, a slow endpoint; mode ok, error (503)
    or cut (a slow answer's headers promise a body that never comes: what a node stopped mid-request does)."""
    url = urllib.parse.urlsplit(handler.path)
    if url.path == "/slow":
        ms = int(urllib.parse.parse_qs(url.query)["ms"][0])
        threading.Event().wait(ms / 1000)
        if mode == "cut":
            handler.send_response(200)
            handler.send_header("Content-Length", "100")
            handler.end_headers()
            handler.wfile.write(b'{"vers')
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            return None
    body = json.dumps({"version": VERSION, "node": "test@localhost"}).encode()
    headers = {"x-beamops-version": VERSION, "x-beamops-node": "test@localhost"}
    return (503 if mode == "error" else 200), body, headers


@pytest.fixture
def server(serve_http):
    """make(mode="ok") -> base URL of a loopback server speaking like the sample release."""
    return lambda mode="ok": serve_http(lambda handler: sample_answer(handler, mode))


def run(url, *extra):
    args = loadgen.parse_args(["--url", url, "--concurrency", "4", "--pause-ms", "0", *extra])
    gen = loadgen.LoadGenerator(args)
    return gen.run()


def test_counts_every_request_and_its_version(server):
    summary, records = run(server(), "--duration", "1", "--slow-ratio", "0.3", "--slow-ms", "20-40")
    assert summary["requests"] == len(records) > 20
    assert summary["failed"] == 0
    assert summary["ok"] == summary["requests"]
    assert summary["versions"] == {"1.0.0": summary["ok"]}
    assert summary["nodes"] == {"test@localhost": summary["ok"]}
    assert 0 < summary["slow_requests"] < summary["requests"]
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"] <= summary["latency_ms"]["max"]
    assert sum(b["ok"] for b in summary["timeline"]) == summary["ok"]


def test_cut_off_slow_requests_are_failures(server):
    summary = run(server("cut"), "--duration", "1", "--slow-ratio", "0.5", "--slow-ms", "10")[0]
    assert summary["failed"] == summary["slow_requests"] > 0
    assert set(summary["errors"]) == {"incomplete_body"}
    assert summary["first_failures"][0]["path"].startswith("/slow")


def test_http_errors_and_refused_connections_are_failures(server):
    summary = run(server("error"), "--max-requests", "10", "--duration", "5")[0]
    assert summary["requests"] == 10
    assert summary["errors"] == {"status_503": 10}

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    summary = run(f"http://127.0.0.1:{closed_port}", "--max-requests", "5", "--duration", "5")[0]
    assert summary["errors"] == {"connection_refused": 5}


def test_stop_file_ends_the_run_early(server, tmp_path):
    stop = tmp_path / "stop"
    stop.write_text("")
    summary = run(server(), "--duration", "30", "--stop-file", str(stop))[0]
    assert summary["duration_s"] < 5
    assert summary["requests"] == 0


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4], 50, 2),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
        ([3, 1, 2], 0, 1),
    ],
)
def test_percentile_nearest_rank(values, pct, expected):
    assert loadgen.percentile(values, pct) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--duration", "0"],
        ["--duration", "4000"],
        ["--concurrency", "0"],
        ["--slow-ratio", "2"],
        ["--slow-ms", "500-200"],
        ["--slow-ms", "abc"],
    ],
)
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        loadgen.parse_args(argv)
    assert "--" in capsys.readouterr().err


def test_refuses_non_loopback_targets():
    with pytest.raises(SystemExit, match="not a loopback address"):
        loadgen.check_target("192.0.2.10", allow_remote=False)
    loadgen.check_target("127.0.0.1", allow_remote=False)
    loadgen.check_target("192.0.2.10", allow_remote=True)
