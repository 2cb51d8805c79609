# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: canary_verdict
short_description: Judge new servers against old ones from two lb_stats windows
version_added: 0.1.0
description:
  - Compares what the load balancer counted for the servers running a new release (the input) with what
    it counted for the servers still on the old one (O(old)) over the same window, both read by the
    M(beamops.deploy.lb_stats) module with C(window_s), and returns a verdict with its reasons and figures.
  - "Three checks: the new servers' error ratio (5xx responses, connection errors and response errors per
    request) against an absolute ceiling (O(max_error_ratio)); the same ratio against the old servers'
    (O(max_error_ratio_increase)); and their mean response time against the old servers'
    (O(max_latency_ratio) and O(latency_tolerance_ms))."
  - A check needs O(min_requests) requests in the window on each side it reads; with fewer it is skipped
    (a few requests prove nothing either way). The verdict is V(fail) when any check fails; else
    V(inconclusive) when the new servers, or the old ones when there are some, served fewer than
    O(min_requests), or when HAProxy's counters were reset during the window; else V(pass).
    RV(_value.passed) applies O(inconclusive) to an inconclusive verdict, so a play can act on one boolean
    and still report the verdict as it was.
  - It reads nothing but its arguments, so the same windows always give the same verdict.
positional: old
options:
  _input:
    description:
      - The new servers' statistics. An M(beamops.deploy.lb_stats) result read with C(window_s) (its
        C(servers) are taken), a list of its server entries (for example selected by name), or one entry.
      - Every entry needs a C(window).
    type: raw
    required: true
  old:
    description:
      - The old servers' statistics over the same window, in the same forms as the input.
      - An empty list means there is no old server to compare with (every server runs the new release);
        the checks against the old servers are then skipped, which the reasons say.
    type: raw
    required: true
  max_error_ratio:
    description:
      - Highest error ratio the new servers may have, from V(0) to V(1). V(null) skips the check.
    type: float
    default: 0.01
  max_error_ratio_increase:
    description:
      - How much the new servers' error ratio may exceed the old servers', in ratio points (V(0.005) is half
        a percentage point), from V(0) to V(1). Points rather than a factor, so that a baseline of no
        error at all still allows some noise. V(null) skips the check.
    type: float
    default: 0.005
  max_latency_ratio:
    description:
      - Highest ratio of the new servers' mean response time to the old servers', at least V(1).
        V(null) skips the check.
    type: float
    default: 1.5
  latency_tolerance_ms:
    description:
      - Milliseconds the new servers may be slower than the old ones whatever the ratio, so that 2 ms
        against 1 ms does not fail a release. At least V(0).
    type: float
    default: 10
  min_requests:
    description:
      - Fewest requests each side must have served in the window for the comparison to count, at least V(1).
    type: int
    default: 100
  inconclusive:
    description: What RV(_value.passed) says of an inconclusive verdict.
    type: str
    choices: [pass, fail]
    default: fail
author:
  - beamops.deploy contributors (@beamops)
seealso:
  - module: beamops.deploy.lb_stats
"""

EXAMPLES = r"""
- name: Measure a minute of real traffic on every server
  beamops.deploy.lb_stats:
    backend: [beam_nodes]
    window_s: 60
  delegate_to: haproxy1
  register: bake

- name: Judge the canary against the others
  ansible.builtin.set_fact:
    canary: >-
      {{ bake.servers | selectattr('server', 'in', ['node1'])
         | beamops.deploy.canary_verdict(bake.servers | rejectattr('server', 'in', ['node1']),
                                         max_error_ratio=0.02, min_requests=200, inconclusive='pass') }}

- name: Stop the rollout on a bad canary
  ansible.builtin.assert:
    that: canary.passed
    fail_msg: "canary {{ canary.verdict }}: {{ canary.reasons | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The verdict, why, and the figures it rests on.
  type: dict
  contains:
    verdict:
      description: V(pass), V(fail) or V(inconclusive).
      type: str
    passed:
      description: V(true) for V(pass), V(false) for V(fail), O(inconclusive) applied to V(inconclusive).
      type: bool
    reasons:
      description: One sentence per check and per cause of an inconclusive verdict, failures first.
      type: list
      elements: str
    figures:
      description:
        - C(new) and C(old), each with C(servers) (names), C(requests), C(errors), C(error_ratio),
          C(mean_response_time_ms) (weighted by requests), C(requests_per_s) and C(counters_reset);
          C(checks), per check its C(result) (V(pass), V(fail) or V(skipped)), C(value) and C(limit);
          C(thresholds), the thresholds used.
      type: dict
  sample:
    verdict: fail
    passed: false
    reasons:
      - "error ratio of the new servers 5.00 % (30 errors in 600 requests) is above max_error_ratio 1.00 %"
    figures:
      new: {servers: [node1], requests: 600, errors: 30, error_ratio: 0.05, mean_response_time_ms: 41.0}
      old: {servers: [node2, node3], requests: 1190, errors: 0, error_ratio: 0.0, mean_response_time_ms: 40.2}
"""

from ansible.errors import AnsibleFilterError

_DEFAULTS = {
    "max_error_ratio": 0.01,
    "max_error_ratio_increase": 0.005,
    "max_latency_ratio": 1.5,
    "latency_tolerance_ms": 10.0,
    "min_requests": 100,
    "inconclusive": "fail",
}


def _entries(stats, side: str) -> list[dict]:
    """An lb_stats result, a list of its server entries, or one entry -> the entries, each with a window."""
    if isinstance(stats, dict) and "servers" in stats and "window" not in stats:
        stats = stats["servers"]
    elif isinstance(stats, dict):
        stats = [stats]
    if not isinstance(stats, list):
        raise AnsibleFilterError(
            f"canary_verdict: the {side} servers' statistics must be an lb_stats result or a list of its "
            f"server entries, got {type(stats).__name__}."
        )
    for entry in stats:
        if not isinstance(entry, dict) or not isinstance(entry.get("window"), dict):
            name = entry.get("server", "?") if isinstance(entry, dict) else repr(entry)[:40]
            raise AnsibleFilterError(
                f"canary_verdict: the {side} server {name} has no window: read it with "
                "beamops.deploy.lb_stats and window_s set."
            )
    return stats


def _number(value, option: str, low: float, high: float | None = None):
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"canary_verdict: {option} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or number < low or (high is not None and number > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise AnsibleFilterError(f"canary_verdict: {option} must be {bounds} (or null to skip), got {value!r}.")
    return number


def thresholds(**given) -> dict:
    """The thresholds, checked: a wrong one fails naming the option and its bounds."""
    chosen = {**_DEFAULTS, **{k: v for k, v in given.items() if k in _DEFAULTS}}
    unknown = sorted(set(given) - set(_DEFAULTS))
    if unknown:
        raise AnsibleFilterError(
            f"canary_verdict: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_DEFAULTS))}."
        )
    min_requests = chosen["min_requests"]
    if isinstance(min_requests, bool) or not str(min_requests).isdigit() or int(min_requests) < 1:
        raise AnsibleFilterError(
            f"canary_verdict: min_requests must be a whole number of at least 1, got {min_requests!r}."
        )
    if chosen["inconclusive"] not in ("pass", "fail"):
        raise AnsibleFilterError(f"canary_verdict: inconclusive must be pass or fail, got {chosen['inconclusive']!r}.")
    return {
        "max_error_ratio": _number(chosen["max_error_ratio"], "max_error_ratio", 0, 1),
        "max_error_ratio_increase": _number(chosen["max_error_ratio_increase"], "max_error_ratio_increase", 0, 1),
        "max_latency_ratio": _number(chosen["max_latency_ratio"], "max_latency_ratio", 1),
        "latency_tolerance_ms": _number(chosen["latency_tolerance_ms"] or 0, "latency_tolerance_ms", 0),
        "min_requests": int(min_requests),
        "inconclusive": chosen["inconclusive"],
    }


def group_figures(entries: list[dict]) -> dict:
    """The servers of one side taken together over the window."""
    windows = [e["window"] for e in entries]
    requests = sum(w.get("requests") or 0 for w in windows)
    errors = sum(w.get("errors") or 0 for w in windows)
    timed = [
        (w["mean_response_time_ms"], w.get("requests") or 0)
        for w in windows
        if w.get("mean_response_time_ms") is not None
    ]
    timed_requests = sum(n for _m, n in timed)
    seconds = max((w.get("seconds") or 0 for w in windows), default=0)
    return {
        "servers": [e.get("server", "?") for e in entries],
        "requests": requests,
        "errors": errors,
        "error_ratio": round(errors / requests, 6) if requests else None,
        "mean_response_time_ms": round(sum(m * n for m, n in timed) / timed_requests, 1) if timed_requests else None,
        "requests_per_s": round(requests / seconds, 3) if seconds else None,
        "counters_reset": any(w.get("counters_reset") for w in windows),
    }


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.2f} %"


def canary_verdict(new_stats, old_stats, **options) -> dict:
    limits = thresholds(**options)
    new = group_figures(_entries(new_stats, "new"))
    old_entries = _entries(old_stats, "old")
    old = group_figures(old_entries)
    if not new["servers"]:
        raise AnsibleFilterError("canary_verdict: no new server to judge (the input is empty).")
    failures, passes, doubts = [], [], []
    checks: dict[str, dict] = {}

    def record(name: str, outcome: str, value, limit, sentence: str) -> None:
        checks[name] = {"result": outcome, "value": value, "limit": limit}
        {"fail": failures, "pass": passes, "skipped": passes}[outcome].append(sentence)

    min_requests = limits["min_requests"]
    new_enough = new["requests"] >= min_requests
    has_old = bool(old_entries)
    old_enough = has_old and old["requests"] >= min_requests
    if not new_enough:
        doubts.append(
            f"the new servers served {new['requests']} requests in the window, fewer than min_requests {min_requests}"
        )
    if has_old and not old_enough:
        doubts.append(
            f"the old servers served {old['requests']} requests in the window, fewer than min_requests {min_requests}"
        )
    for side, figures in (("new", new), ("old", old)):
        if figures["counters_reset"]:
            doubts.append(f"HAProxy's counters were reset during the window on the {side} servers")
    # Why a comparison with the old servers cannot be made, or None when it can.
    no_compare = None
    if not has_old:
        no_compare = "no old server to compare with"
    elif not new_enough:
        no_compare = "too few requests on the new servers"
    elif not old_enough:
        no_compare = "too few requests on the old servers"

    ratio, ceiling = new["error_ratio"], limits["max_error_ratio"]
    if ceiling is None:
        record("error_ratio", "skipped", ratio, None, "error ratio ceiling skipped (max_error_ratio is null)")
    elif not new_enough:
        record("error_ratio", "skipped", ratio, ceiling, "error ratio not checked: too few requests on the new servers")
    else:
        above = ratio > ceiling
        record(
            "error_ratio",
            "fail" if above else "pass",
            ratio,
            ceiling,
            f"error ratio of the new servers {_pct(ratio)} ({new['errors']} errors in {new['requests']} requests) "
            f"is {'above' if above else 'within'} max_error_ratio {_pct(ceiling)}",
        )

    increase = limits["max_error_ratio_increase"]
    if increase is None:
        record(
            "error_ratio_increase",
            "skipped",
            None,
            None,
            "error ratio increase skipped (max_error_ratio_increase is null)",
        )
    elif no_compare:
        record(
            "error_ratio_increase",
            "skipped",
            None,
            increase,
            f"error ratio against the old servers not checked: {no_compare}",
        )
    else:
        delta = round(ratio - old["error_ratio"], 6)
        above = delta > increase
        record(
            "error_ratio_increase",
            "fail" if above else "pass",
            delta,
            increase,
            f"error ratio of the new servers {_pct(ratio)} against {_pct(old['error_ratio'])} on the old ones, "
            f"{delta * 100:+.2f} points, is {'above' if above else 'within'} max_error_ratio_increase "
            f"{increase * 100:.2f} points",
        )

    latency, tolerance = limits["max_latency_ratio"], limits["latency_tolerance_ms"]
    new_ms, old_ms = new["mean_response_time_ms"], old["mean_response_time_ms"]
    if latency is None:
        record(
            "latency_ratio",
            "skipped",
            None,
            None,
            "response time against the old servers skipped (max_latency_ratio is null)",
        )
    elif no_compare or new_ms is None or old_ms is None:
        why = no_compare or "HAProxy gave no response time"
        record("latency_ratio", "skipped", None, latency, f"response time against the old servers not checked: {why}")
    else:
        slower = new_ms > old_ms * latency and new_ms - old_ms > tolerance
        shown = round(new_ms / old_ms, 3) if old_ms else None
        record(
            "latency_ratio",
            "fail" if slower else "pass",
            shown,
            latency,
            f"mean response time of the new servers {new_ms:g} ms against {old_ms:g} ms on the old ones "
            f"(x{shown if shown is not None else 'inf'}) is {'above' if slower else 'within'} max_latency_ratio "
            f"{latency:g} with latency_tolerance_ms {tolerance:g}",
        )

    verdict = "fail" if failures else "inconclusive" if doubts else "pass"
    passed = verdict == "pass" or (verdict == "inconclusive" and limits["inconclusive"] == "pass")
    if verdict == "inconclusive":
        doubts.append(f"inconclusive counts as {limits['inconclusive']} (inconclusive={limits['inconclusive']})")
    return {
        "verdict": verdict,
        "passed": passed,
        "reasons": failures + doubts + passes,
        "figures": {"new": new, "old": old, "checks": checks, "thresholds": limits},
    }


class FilterModule:
    def filters(self):
        return {"canary_verdict": canary_verdict}
