# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy statistics: `show stat` rows to figures, windows between two reads, HAProxy's average times."""

from __future__ import annotations

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import (
    TIME_SAMPLES,
    HAProxyError,
    parse_stat_csv,
    stat_entry,
    stat_window,
    stats_view,
    window_mean,
)

# Captured from the lab's HAProxy 2.6.12 after 42 requests (30 GET /, 6 answered 503, 3 answered 404,
# 3 of 100 ms), columns cut to those read and a few others.
STAT_26 = (
    "# pxname,svname,qcur,scur,stot,econ,eresp,wretr,wredis,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,"
    "hrsp_4xx,hrsp_5xx,hrsp_other,req_tot,qtime,ctime,rtime,ttime\n"
    "beam_nodes,h2-node1,0,0,15,0,0,0,0,UP,1,0,12,0,1,2,0,15,0,0,7,7\n"
    "beam_nodes,h2-node2,0,0,15,0,0,0,0,UP,1,0,12,0,1,2,0,15,0,0,7,7\n"
    "beam_nodes,h2-node3,0,0,16,0,0,0,0,UP,1,0,12,0,1,3,0,16,0,0,7,7\n"
    "beam_nodes,BACKEND,0,0,46,0,0,0,0,UP,3,0,36,0,3,7,0,46,0,0,7,7\n"
    "\n"
)
# An older HAProxy (1.6-like): no req_tot for servers, no hrsp_other, no times.
STAT_OLD = (
    "# pxname,svname,qcur,scur,stot,econ,eresp,wretr,wredis,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,"
    "hrsp_4xx,hrsp_5xx\n"
    "app,web1,0,1,40,2,1,3,1,UP,1,0,30,0,2,5\n"
    "app,BACKEND,0,1,40,2,1,3,1,UP,1,0,30,0,2,5\n"
)
# A TCP backend: HAProxy leaves the HTTP columns empty.
STAT_TCP = (
    "# pxname,svname,scur,stot,econ,eresp,status,weight,hrsp_2xx,hrsp_5xx,req_tot,rtime\ndb,pg1,2,90,1,0,UP,1,,,,0\n"
)


def entry(text: str, server: str) -> dict:
    return next(stat_entry(r) for r in parse_stat_csv(text) if r["svname"] == server)


def test_a_haproxy_26_row_gives_every_figure():
    node = entry(STAT_26, "h2-node3")
    assert node["backend"] == "beam_nodes" and node["server"] == "h2-node3"
    assert (node["status"], node["weight"], node["sessions_current"], node["sessions_total"]) == ("UP", 1, 0, 16)
    assert (node["requests"], node["requests_from"]) == (16, "req_tot")
    assert node["responses"] == {"1xx": 0, "2xx": 12, "3xx": 0, "4xx": 1, "5xx": 3, "other": 0}
    assert (node["connection_errors"], node["response_errors"], node["retries"], node["redispatches"]) == (0, 0, 0, 0)
    assert (node["queue_time_ms"], node["connect_time_ms"], node["response_time_ms"], node["total_time_ms"]) == (
        0,
        0,
        7,
        7,
    )
    assert node["missing"] == []
    backend = entry(STAT_26, "BACKEND")
    assert "server" not in backend and backend["requests"] == 46 and backend["responses"]["5xx"] == 7


def test_an_older_haproxy_without_req_tot_counts_responses_and_lists_what_it_lacks():
    web = entry(STAT_OLD, "web1")
    assert (web["requests"], web["requests_from"]) == (37, "responses")
    assert web["responses"]["other"] is None and web["response_time_ms"] is None
    assert web["missing"] == ["req_tot", "hrsp_other", "qtime", "ctime", "rtime", "ttime"]
    assert (web["connection_errors"], web["response_errors"], web["retries"], web["redispatches"]) == (2, 1, 3, 1)


def test_a_tcp_backend_counts_sessions():
    pg = entry(STAT_TCP, "pg1")
    assert (pg["requests"], pg["requests_from"]) == (90, "sessions")
    assert pg["responses"]["5xx"] is None


def row(requests=100, r2xx=95, r5xx=5, econ=0, eresp=0, rtime=10, **extra) -> dict:
    base = {
        "pxname": "be",
        "svname": "s1",
        "status": "UP",
        "weight": "1",
        "scur": "0",
        "stot": str(requests),
        "req_tot": str(requests),
        "hrsp_1xx": "0",
        "hrsp_2xx": str(r2xx),
        "hrsp_3xx": "0",
        "hrsp_4xx": "0",
        "hrsp_5xx": str(r5xx),
        "hrsp_other": "0",
        "econ": str(econ),
        "eresp": str(eresp),
        "wretr": "0",
        "wredis": "0",
        "qtime": "0",
        "ctime": "0",
        "rtime": str(rtime),
        "ttime": str(rtime),
    }
    base.update({k: str(v) for k, v in extra.items()})
    return stat_entry(base)


def test_a_window_is_the_difference_of_two_reads():
    first = row(requests=1000, r2xx=990, r5xx=10, econ=1, rtime=10)
    second = row(requests=1200, r2xx=1180, r5xx=20, econ=3, eresp=2, rtime=10, wretr=4, wredis=1)
    window = stat_window(first, second, 20.0)
    assert window["requests"] == 200 and window["responses"]["2xx"] == 190 and window["responses"]["5xx"] == 10
    # 10 responses 5xx + 2 connection errors + 2 response errors, per request.
    assert window["errors"] == 14 and window["error_ratio"] == pytest.approx(0.07)
    assert (window["connection_errors"], window["response_errors"]) == (2, 2)
    assert (window["retries"], window["redispatches"]) == (4, 1)
    assert window["requests_per_s"] == 10.0 and window["errors_per_s"] == 0.7
    assert window["mean_response_time_ms"] == 10.0 and not window["counters_reset"]


def test_a_window_without_requests_has_no_ratio_nor_time():
    window = stat_window(row(), row(), 5.0)
    assert window["requests"] == 0 and window["errors"] == 0
    assert window["error_ratio"] is None and window["mean_response_time_ms"] is None
    assert window["requests_per_s"] == 0.0


def test_counters_reset_between_reads_count_from_the_reset():
    # HAProxy restarted during the window: its counters went from 5000 down to 40.
    first = row(requests=5000, r2xx=4990, r5xx=10, rtime=80)
    second = row(requests=40, r2xx=38, r5xx=2, rtime=12)
    window = stat_window(first, second, 10.0)
    assert window["counters_reset"]
    assert window["requests"] == 40 and window["responses"]["5xx"] == 2 and window["error_ratio"] == 0.05
    # The averages restarted too: the 40 samples since the reset are all HAProxy averages.
    assert window["mean_response_time_ms"] == 12.0


def test_a_server_added_between_reads_counts_from_zero():
    window = stat_window(None, row(requests=30, r2xx=30, r5xx=0, rtime=4), 3.0)
    assert window["requests"] == 30 and window["error_ratio"] == 0.0 and not window["counters_reset"]


def test_a_window_of_an_older_haproxy_leaves_unknown_figures_null():
    first = entry(STAT_OLD, "web1")
    second = stat_entry({**parse_stat_csv(STAT_OLD)[0], "stot": "60", "hrsp_2xx": "45", "hrsp_5xx": "8"})
    window = stat_window(first, second, 10.0)
    assert window["requests"] == 18 and window["errors"] == 3 and window["responses"]["other"] is None
    assert window["mean_response_time_ms"] is None


def haproxy_average(samples: list[int], count: int = 0, total: int = 0) -> tuple[int, int, int]:
    """HAProxy 2.6's integer sliding sum (swrate_add_dynamic: a plain sum until 512 samples, then each
    one takes 1/512 off), read as swrate_avg over min(count, 512). Returns (count, sum, the average
    as `show stat` prints it)."""
    for value in samples:
        count += 1
        n = TIME_SAMPLES if count > TIME_SAMPLES else 0
        total = total - ((total + n - 1) // n if n else 0) + value
    n = min(count, TIME_SAMPLES)
    return count, total, (total + n - 1) // n if n else 0


@pytest.mark.parametrize(
    ("before", "during", "expected", "within"),
    [
        ([5] * 20, [200] * 10, 200, 1),  # both reads within the first 512 requests: a plain mean
        ([5] * 300, [300] * 400, 300, 3),  # the window crosses 512
        ([5] * 3000, [300] * 100, 300, 10),  # a steady server: the window is a decaying part of the average
        ([5] * 3000, [300] * 20, 300, 50),  # a short window: HAProxy's whole milliseconds weigh more
        ([300] * 3000, [5] * 2000, 5, 1),  # faster again
        ([40] * 3000, [40] * 50, 40, 1),  # nothing changed
    ],
)
def test_the_window_mean_is_worked_back_from_haproxy_averages(before, during, expected, within):
    c0, s0, a0 = haproxy_average(before)
    c1, _s1, a1 = haproxy_average(during, c0, s0)
    # The end average alone is far off in most cases: the working back matters.
    assert abs(a1 - expected) > within or before[0] == expected
    assert window_mean(a0, a1, c0, c1) == pytest.approx(expected, abs=within), (a0, a1, c0, c1)


def test_the_window_mean_refuses_what_it_cannot_know():
    assert window_mean(None, 10, 0, 10) is None
    assert window_mean(10, 10, 10, 10) is None


def test_the_view_filters_servers_and_keeps_backends_whole():
    rows = parse_stat_csv(STAT_26)
    servers, backends = stats_view(rows, ["h2-node1"])
    assert [s["server"] for s in servers] == ["h2-node1"]
    assert backends["beam_nodes"]["servers"] == ["h2-node1", "h2-node2", "h2-node3"]
    assert backends["beam_nodes"]["requests"] == 46
    every = stats_view(rows, [])[0]
    assert len(every) == 3


def test_an_unknown_server_fails_naming_the_known_ones():
    with pytest.raises(HAProxyError, match=r"Server\(s\) web9 not found in backend\(s\) beam_nodes .*h2-node1"):
        stats_view(parse_stat_csv(STAT_26), ["h2-node1", "web9"])


def test_an_empty_backend_has_its_own_figures_and_no_servers():
    rows = parse_stat_csv("# pxname,svname,status,weight,stot,req_tot\nspare,BACKEND,DOWN,0,0,0\n")
    servers, backends = stats_view(rows)
    assert servers == [] and backends["spare"]["servers"] == [] and backends["spare"]["status"] == "DOWN"
    with pytest.raises(HAProxyError, match="servers there: none"):
        stats_view(rows, ["web1"])
