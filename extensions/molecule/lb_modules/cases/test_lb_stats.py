# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_stats against the lab's HAProxy, as a user's task runs it (ad-hoc `ansible` on the LB).

The lab carries no traffic but the tests', so HAProxy's counters move by what the load generator
sends, and nothing else: a window around a load of known requests (normal ones, slow ones, and
ones the sample app answers 503 and 404 on purpose, GET /status?code=N) must count exactly the
requests, responses by class and errors the load generator recorded per node, and a mean response
time close to the one the clients measured. The figures are added to .build/figures/<lab>-lb_modules-stats.json.
"""

import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labtools
import pytest

BACKEND = labtools.lab_vars()["lab_haproxy_backend"]
FIGURES, figures = labtools.scenario_figures("lb_modules-stats")
# Seconds from starting the ad-hoc `ansible` run to the module's first read: the load starts after it.
STARTUP_S = 12.0
LOAD_S = 8.0


def lb_stats(args: dict, check_mode: bool = False) -> dict:
    return labtools.run_module(labtools.LB, "beamops.deploy.lb_stats", {"backend": [BACKEND], **args}, check_mode)


def window_around(load_args: tuple[str, ...], extra_s: float = 0.0, clear_after_s: float | None = None):
    """lb_stats with a window that opens before a load of LOAD_S seconds and closes after it.

    Returns (the module's result, the load's records, seconds from the call to its return).
    """
    window_s = STARTUP_S + LOAD_S + extra_s + 4
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        measuring = pool.submit(lb_stats, {"window_s": window_s})
        time.sleep(STARTUP_S)
        records_file = Path(tmp) / "requests.jsonl"
        if clear_after_s is None:
            labtools.run_load(LOAD_S, *load_args, "--records", str(records_file))
        else:
            # Half the load, then HAProxy's counters cleared (as a restart would), then the other half.
            labtools.run_load(clear_after_s, *load_args, "--records", str(Path(tmp) / "before.jsonl"))
            assert labtools.haproxy_command("clear counters all").strip() == ""
            labtools.run_load(LOAD_S - clear_after_s, *load_args, "--records", str(records_file))
        result = measuring.result(timeout=window_s + 120)
        elapsed = time.monotonic() - started
        records = [json.loads(line) for line in records_file.read_text().splitlines()]
    assert not result.get("failed") and not result["changed"], result
    # The first read came before the load: the whole run minus the window is less than the head start.
    assert elapsed - result["window_s"] < STARTUP_S, f"ansible took too long to start: {elapsed:.1f}s in all"
    return result, records, elapsed


def by_node(records: list[dict]) -> dict[str, list[dict]]:
    """Records per server name (the node name's host part is the HAProxy server's name in the lab)."""
    grouped: dict[str, list[dict]] = {}
    for rec in records:
        assert rec["node"], f"a request reached no node: {rec}"
        grouped.setdefault(rec["node"].split("@", 1)[1], []).append(rec)
    return grouped


def test_a_single_read_in_check_mode_names_every_server():
    result = lb_stats({}, check_mode=True)
    assert not result.get("failed") and not result["changed"] and result["window_s"] is None, result
    assert sorted(s["server"] for s in result["servers"]) == sorted(labtools.NODES)
    assert result["backends"][BACKEND]["servers"] == list(labtools.NODES)
    node = result["servers"][0]
    # HAProxy 2.6 reports every column lb_stats reads, req_tot for servers included.
    assert node["missing"] == [] and node["requests_from"] == "req_tot", node
    assert node["status"] == "UP" and node["weight"] == 1


def test_a_window_counts_exactly_what_the_clients_sent():
    labtools.wait_servers_up()
    paths = ("--path", "/", "--path", "/counter", "--path", "/status?code=503", "--path", "/status?code=404")
    load = ("--concurrency", "6", "--slow-ratio", "0.2", "--slow-ms", "100-300", "--seed", "12", *paths)
    result, records, elapsed = window_around(load)
    nodes = by_node(records)
    assert sorted(nodes) == sorted(labtools.NODES)
    figures = {}
    for server in result["servers"]:
        sent = nodes[server["server"]]
        window = server["window"]
        statuses = [r["status"] for r in sent]
        expected = {
            "requests": len(sent),
            "2xx": statuses.count(200),
            "4xx": statuses.count(404),
            "5xx": statuses.count(503),
        }
        counted = {"requests": window["requests"], **{c: window["responses"][c] for c in ("2xx", "4xx", "5xx")}}
        assert counted == expected, (server["server"], counted, expected)
        assert expected["5xx"] > 0 and expected["4xx"] > 0 and expected["2xx"] > 0
        assert window["errors"] == expected["5xx"] and window["connection_errors"] == 0
        assert window["error_ratio"] == pytest.approx(expected["5xx"] / len(sent), abs=1e-6)
        assert not window["counters_reset"]
        # HAProxy's response time (to the first byte of the answer) against the clients' whole request.
        client_ms = statistics.mean(r["latency_ms"] for r in sent)
        assert window["mean_response_time_ms"] == pytest.approx(client_ms, abs=8 + 0.05 * client_ms), (
            server["server"],
            window["mean_response_time_ms"],
            client_ms,
        )
        figures[server["server"]] = {**counted, "mean_response_time_ms": window["mean_response_time_ms"]}
        figures[server["server"]]["client_mean_ms"] = round(client_ms, 1)
    backend = result["backends"][BACKEND]["window"]
    assert backend["requests"] == len(records)
    assert backend["responses"]["5xx"] == sum(1 for r in records if r["status"] == 503)
    FIGURES["window"] = {
        "window_s": result["window_s"],
        "ansible_run_s": round(elapsed, 1),
        "requests": len(records),
        "servers": figures,
    }


def test_counters_cleared_during_the_window_count_from_the_clearing():
    labtools.wait_servers_up()
    load = ("--concurrency", "4", "--slow-ratio", "0", "--seed", "13", "--path", "/", "--path", "/status?code=500")
    result, records, _elapsed = window_around(load, clear_after_s=3.0)
    nodes = by_node(records)
    for server in result["servers"]:
        window = server["window"]
        sent = nodes.get(server["server"], [])
        assert window["counters_reset"], server
        # Only what came after the clearing: the requests sent before it are gone from HAProxy's counters.
        assert window["requests"] == len(sent) and window["responses"]["5xx"] == sum(
            1 for r in sent if r["status"] == 500
        )
    FIGURES["cleared"] = {"requests_after_clear": len(records)}


def test_unknown_backend_or_server_fails_and_names_what_is_there():
    backend = lb_stats({"backend": ["no_such_backend"]})
    assert backend["failed"] and f"backends there: {BACKEND}" in backend["msg"], backend
    server = lb_stats({"servers": ["no_such_server"]})
    assert server["failed"] and labtools.NODES[0] in server["msg"], server
