# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling run's records merged: their order, the run's outcome and the summary lines."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.filter.rolling_report import rolling_report


def rec(host, started, batch=(), outcome="deployed", steps=(), error=""):
    return {
        "host": host,
        "batch": list(batch),
        "started": started,
        "outcome": outcome,
        "seconds": 4.5,
        "steps": [{"step": s, "seconds": t} for s, t in steps],
        "error": error,
        "version_before": "1.0.0",
        "version_after": "1.1.0" if outcome == "deployed" else "1.0.0",
    }


def test_batches_in_the_order_they_started_then_the_hosts_without_a_batch():
    merged = rolling_report([rec("c", 1.0, outcome="unchanged"), rec("b", 3.0, ["b"]), rec("a", 2.0, ["a"])])
    assert [r["host"] for r in merged["hosts"]] == ["a", "b", "c"]
    assert merged["outcome"] == "ok"
    assert merged["lines"] == [
        "a (batch of 1): 1.0.0 -> 1.1.0, deployed in 4.5 s",
        "b (batch of 1): 1.0.0 -> 1.1.0, deployed in 4.5 s",
        "c (no batch): 1.0.0 -> 1.0.0, unchanged in 4.5 s",
    ]


def test_the_outcome_is_the_gravest_stop_and_a_line_has_its_steps_and_error():
    hosts = [
        rec("a", 1.0, ["a"], steps=[("drain", 1.2), ("deploy", 2)]),
        rec("b", 2.0, ["b", "c"], "refused", error="too few in rotation"),
        rec("c", 2.0, ["b", "c"], "rolled_back", steps=[("drain", 0.5)], error="probe failed"),
    ]
    merged = rolling_report(hosts)
    assert merged["outcome"] == "rolled_back"
    assert merged["lines"][0] == "a (batch of 1): 1.0.0 -> 1.1.0, deployed in 4.5 s (drain 1.2 s, deploy 2 s)"
    assert merged["lines"][2] == "c (batch of 2): 1.0.0 -> 1.0.0, rolled_back in 4.5 s (drain 0.5 s) - probe failed"
    assert rolling_report([*hosts, rec("d", 3.0, ["d"], "lb_unreachable")])["outcome"] == "lb_unreachable"
    assert rolling_report(hosts[:2])["outcome"] == "refused"
    assert rolling_report([]) == {"hosts": [], "outcome": "ok", "lines": []}
