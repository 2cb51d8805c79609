# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canary_verdict filter: every check, every way to an inconclusive verdict, and bad input."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.canary_verdict import FilterModule, canary_verdict


def server(name, requests=1000, errors=0, mean_ms=40.0, reset=False, seconds=60.0) -> dict:
    """An lb_stats server entry with its window (only what the filter reads, plus some it ignores)."""
    return {
        "backend": "beam_nodes",
        "server": name,
        "requests": 123456,
        "window": {
            "seconds": seconds,
            "requests": requests,
            "errors": errors,
            "error_ratio": errors / requests if requests else None,
            "mean_response_time_ms": mean_ms if requests else None,
            "counters_reset": reset,
        },
    }


OLD = [server("node2"), server("node3", errors=1, mean_ms=42.0)]


def test_a_good_canary_passes_every_check():
    result = canary_verdict([server("node1", errors=1, mean_ms=41.0)], OLD)
    assert result["verdict"] == "pass" and result["passed"]
    checks = result["figures"]["checks"]
    assert {k: v["result"] for k, v in checks.items()} == {
        "error_ratio": "pass",
        "error_ratio_increase": "pass",
        "latency_ratio": "pass",
    }
    new, old = result["figures"]["new"], result["figures"]["old"]
    assert (new["servers"], new["requests"], new["errors"], new["error_ratio"]) == (["node1"], 1000, 1, 0.001)
    assert (old["servers"], old["requests"], old["errors"], old["error_ratio"]) == (["node2", "node3"], 2000, 1, 0.0005)
    assert old["mean_response_time_ms"] == 41.0 and old["requests_per_s"] == 33.333
    assert len(result["reasons"]) == 3 and all("within" in r for r in result["reasons"])


def test_a_flaky_canary_fails_on_its_error_ratio():
    # 1.1.0-flaky: every 20th request answers 500.
    result = canary_verdict([server("node1", errors=50)], OLD)
    assert result["verdict"] == "fail" and not result["passed"]
    assert result["figures"]["checks"]["error_ratio"] == {"result": "fail", "value": 0.05, "limit": 0.01}
    assert result["reasons"][0] == (
        "error ratio of the new servers 5.00 % (50 errors in 1000 requests) is above max_error_ratio 1.00 %"
    )


def test_an_increase_over_the_old_servers_fails_below_the_ceiling():
    # 0.9 % errors is under the 1 % ceiling, but 0.85 points above the old servers' 0.05 %.
    result = canary_verdict([server("node1", errors=9)], OLD)
    checks = result["figures"]["checks"]
    assert checks["error_ratio"]["result"] == "pass"
    assert checks["error_ratio_increase"] == {"result": "fail", "value": 0.0085, "limit": 0.005}
    assert (
        result["verdict"] == "fail"
        and "+0.85 points, is above max_error_ratio_increase 0.50 points" in (result["reasons"][0])
    )


def test_old_servers_failing_as_much_do_not_fail_the_canary_on_the_increase():
    old = [server("node2", errors=8), server("node3", errors=8)]
    result = canary_verdict([server("node1", errors=9)], old, max_error_ratio=0.02)
    assert result["verdict"] == "pass", result["reasons"]


def test_a_slow_canary_fails_on_its_response_time():
    # 1.1.0-slow: 300 ms more on normal requests.
    result = canary_verdict([server("node1", mean_ms=340.0)], OLD)
    latency = result["figures"]["checks"]["latency_ratio"]
    assert latency == {"result": "fail", "value": 8.293, "limit": 1.5}
    assert result["verdict"] == "fail" and "340 ms against 41 ms" in result["reasons"][0]


def test_a_twice_as_slow_but_fast_canary_is_within_the_tolerance():
    old = [server("node2", mean_ms=1.0)]
    assert canary_verdict([server("node1", mean_ms=2.0)], old)["verdict"] == "pass"
    assert canary_verdict([server("node1", mean_ms=2.0)], old, latency_tolerance_ms=0)["verdict"] == "fail"


def test_too_few_requests_on_the_canary_is_inconclusive_and_the_policy_decides():
    # 3 errors in 20 requests would be 15 %: with so few requests nothing is checked.
    thin = [server("node1", requests=20, errors=3)]
    failing = canary_verdict(thin, OLD)
    assert failing["verdict"] == "inconclusive" and not failing["passed"]
    assert {v["result"] for v in failing["figures"]["checks"].values()} == {"skipped"}
    assert failing["reasons"][0] == "the new servers served 20 requests in the window, fewer than min_requests 100"
    assert failing["reasons"][1] == "inconclusive counts as fail (inconclusive=fail)"
    passing = canary_verdict(thin, OLD, inconclusive="pass", min_requests=10)
    assert passing["verdict"] == "fail"  # with enough requests asked for, 15 % fails
    lenient = canary_verdict(thin, OLD, inconclusive="pass")
    assert lenient["verdict"] == "inconclusive" and lenient["passed"]


def test_too_few_requests_on_the_old_servers_is_inconclusive_but_a_failure_still_fails():
    thin_old = [server("node2", requests=30)]
    result = canary_verdict([server("node1")], thin_old)
    assert result["verdict"] == "inconclusive"
    checks = result["figures"]["checks"]
    assert checks["error_ratio"]["result"] == "pass" and checks["latency_ratio"]["result"] == "skipped"
    assert "too few requests on the old servers" in " ".join(result["reasons"])
    assert canary_verdict([server("node1", errors=100)], thin_old)["verdict"] == "fail"


def test_no_old_server_skips_the_comparisons():
    result = canary_verdict([server("node1"), server("node2")], [])
    assert result["verdict"] == "pass"
    checks = result["figures"]["checks"]
    assert checks["error_ratio_increase"]["result"] == checks["latency_ratio"]["result"] == "skipped"
    assert "no old server to compare with" in " ".join(result["reasons"])


def test_counters_reset_during_the_window_is_inconclusive():
    result = canary_verdict([server("node1", reset=True)], OLD, inconclusive="pass")
    assert result["verdict"] == "inconclusive" and result["passed"]
    assert "reset during the window on the new servers" in result["reasons"][0]


def test_null_thresholds_skip_their_checks():
    result = canary_verdict(
        [server("node1", errors=500, mean_ms=900.0)],
        OLD,
        max_error_ratio=None,
        max_error_ratio_increase=None,
        max_latency_ratio=None,
    )
    assert result["verdict"] == "pass"
    assert all(v["result"] == "skipped" for v in result["figures"]["checks"].values())


def test_no_response_time_skips_the_latency_check():
    old = [server("node2")]
    old[0]["window"]["mean_response_time_ms"] = None
    result = canary_verdict([server("node1")], old)
    assert result["figures"]["checks"]["latency_ratio"]["result"] == "skipped"
    assert "HAProxy gave no response time" in " ".join(result["reasons"])


def test_the_means_are_weighted_by_requests():
    new = [server("node1", requests=300, mean_ms=100.0), server("node4", requests=100, mean_ms=20.0)]
    assert canary_verdict(new, OLD)["figures"]["new"]["mean_response_time_ms"] == 80.0


def test_an_lb_stats_result_or_one_entry_is_taken_as_well():
    result = {"changed": False, "servers": OLD, "backends": {}}
    assert canary_verdict(server("node1"), result)["figures"]["old"]["servers"] == ["node2", "node3"]


def test_thresholds_given_as_strings_from_extra_vars():
    result = canary_verdict([server("node1", errors=15)], OLD, max_error_ratio="0.02", min_requests="50")
    assert result["figures"]["thresholds"]["max_error_ratio"] == 0.02
    assert result["figures"]["thresholds"]["min_requests"] == 50


@pytest.mark.parametrize(
    ("new", "old", "options", "message"),
    [
        ([server("node1")], OLD, {"max_error_ratio": 1.5}, "max_error_ratio must be from 0 to 1"),
        ([server("node1")], OLD, {"max_error_ratio_increase": -0.1}, "max_error_ratio_increase must be from 0 to 1"),
        ([server("node1")], OLD, {"max_latency_ratio": 0.5}, "max_latency_ratio must be at least 1"),
        ([server("node1")], OLD, {"latency_tolerance_ms": "fast"}, "latency_tolerance_ms must be a number"),
        ([server("node1")], OLD, {"min_requests": 0}, "min_requests must be a whole number of at least 1"),
        ([server("node1")], OLD, {"inconclusive": "maybe"}, "inconclusive must be pass or fail"),
        ([server("node1")], OLD, {"max_errors": 3}, "unknown option(s) max_errors"),
        ([{"server": "node1", "requests": 5}], OLD, {}, "the new server node1 has no window"),
        ([server("node1")], "node2", {}, "must be an lb_stats result or a list"),
        ([], OLD, {}, "no new server to judge"),
    ],
)
def test_bad_input_is_refused_naming_the_option(new, old, options, message):
    with pytest.raises(AnsibleFilterError, match="canary_verdict: ") as raised:
        canary_verdict(new, old, **options)
    assert message in str(raised.value)


def test_the_filter_is_registered():
    assert FilterModule().filters()["canary_verdict"] is canary_verdict
