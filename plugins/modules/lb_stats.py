#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_stats
short_description: Read HAProxy's traffic statistics per server and backend, now or over a window
version_added: 0.1.0
description:
  - Reads HAProxy's own counters through the runtime API (C(show stat)), over a unix socket (run the task on
    the load balancer) or a TCP admin socket. Per server and per backend it returns the status, weight, sessions,
    requests, HTTP responses by class, connection and response errors, retries, redispatches and HAProxy's
    average queue, connect, response and total times.
  - With O(window_s), reads twice that many seconds apart and returns, per server and backend, what happened
    in between (requests, responses by class, errors, the error ratio, rates per second and the mean
    response time). That is what a canary analysis compares (see the P(beamops.deploy.canary_verdict#filter)
    filter); no metrics stack is needed, the load balancer already counts every request.
author:
  - beamops.deploy contributors (@beamops)
options:
  servers:
    description:
      - Only these servers of the backends read. When omitted, every server.
      - A name that no backend read holds is an error.
      - The backends' own figures (RV(backends)) always cover all their servers.
    type: list
    elements: str
  window_s:
    description:
      - Seconds between two reads, above V(0) and at most V(3600). Each server and backend then has a
        C(window) of what happened in between.
      - When omitted, one read, no window.
      - Check mode reads, and waits, the same.
    type: float
extends_documentation_fragment:
  - beamops.deploy.haproxy_admin
  - beamops.deploy.haproxy_admin.read
  - beamops.deploy.attributes.read_only
  - beamops.deploy.attributes
notes:
  - HAProxy's counters count from its start, not from a node's restart; a server keeps its counters when
    the release behind it is replaced. Compare windows, not totals.
  - "Errors are what a client of the server saw go wrong: 5xx responses, connection errors (C(econ)) and
    response errors (C(eresp)). C(error_ratio) is errors per request of the window."
  - C(requests) is HAProxy's C(req_tot) where this HAProxy reports it for servers, else the sum of the
    responses, else the sessions; C(requests_from) says which. Columns an older HAProxy lacks are
    listed in C(missing) and their figures are null.
  - "The window's C(mean_response_time_ms) is worked back from HAProxy's moving average of response
    times (C(rtime), kept over its last 512 samples and rounded to whole milliseconds) at both reads:
    exact while the window's responses take alike times, within (1+d)/(1-d) ms otherwise, d being
    (1-1/512) to the power of the window's responses (2 ms past 1500 responses, 21 ms at 50)."
  - When counters went down between the reads (HAProxy restarted, or C(clear counters all)), the window
    counts from the reset and C(counters_reset) is true.
seealso:
  - module: beamops.deploy.lb_member_info
  - plugin: beamops.deploy.canary_verdict
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Read every server's counters of the backend, on the load balancer
  beamops.deploy.lb_stats:
    backend: [beam_nodes]
  delegate_to: haproxy1
  register: lb_now

- name: Measure 60 seconds of traffic on the canary and two old nodes, over the TCP admin socket
  beamops.deploy.lb_stats:
    admin_host: 10.0.0.5
    admin_port: 9999
    backend: [beam_nodes]
    servers: [node1, node2, node3]
    window_s: 60
  delegate_to: localhost
  register: lb_window

- name: Stop when the canary failed more than 1 % of its requests
  ansible.builtin.assert:
    that: >-
      (lb_window.servers | selectattr('server', 'eq', 'node1') | first).window.error_ratio | default(0, true)
      <= 0.01
"""

RETURN = r"""
servers:
  description:
    - Every server read (or those of O(servers)), in HAProxy's order. Figures are null where this HAProxy
      does not report them.
    - The four C(*_time_ms) figures are HAProxy's moving averages at the last read, in whole milliseconds.
  returned: success
  type: list
  elements: dict
  contains:
    backend:
      description: Backend name.
      type: str
    server:
      description: Server name.
      type: str
    status:
      description: HAProxy's status (C(UP), C(DOWN), C(DRAIN), C(MAINT), C(UP 1/3) ...), at the last read.
      type: str
    weight:
      description: Effective weight, at the last read.
      type: int
    sessions_current:
      description: Current sessions (C(scur)), at the last read.
      type: int
    sessions_total:
      description: Sessions since HAProxy started (C(stot)).
      type: int
    requests:
      description: Requests since HAProxy started (see C(requests_from)).
      type: int
    requests_from:
      description: V(req_tot), V(responses) or V(sessions), where C(requests) comes from.
      type: str
    responses:
      description: HTTP responses since HAProxy started, by class (C(hrsp_1xx) ... C(hrsp_5xx), C(hrsp_other)).
      type: dict
      sample: {"1xx": 0, "2xx": 1520, "3xx": 0, "4xx": 3, "5xx": 12, "other": 0}
    connection_errors:
      description: Failed connections to the server (C(econ)).
      type: int
    response_errors:
      description: Responses aborted or unreadable (C(eresp)).
      type: int
    retries:
      description: Connection retries (C(wretr)).
      type: int
    redispatches:
      description: Requests sent to another server after a failed connect (C(wredis)).
      type: int
    queue_time_ms:
      description: Time a request waited in HAProxy's queues for a free connection slot (C(qtime)).
      type: int
    connect_time_ms:
      description: Time to establish the connection to the server (C(ctime)).
      type: int
    response_time_ms:
      description: Time the server took to send its complete response headers once connected (C(rtime)).
      type: int
    total_time_ms:
      description: Whole session time, from accepting the client's connection to closing it (C(ttime)).
      type: int
    missing:
      description: Columns this HAProxy's C(show stat) lacks.
      type: list
      elements: str
    window:
      description: What happened between the two reads (counters are differences).
      returned: when O(window_s) is set
      type: dict
      contains:
        seconds:
          description: Seconds between the reads, as measured.
          type: float
        requests:
          description: Requests.
          type: int
        responses:
          description: Responses by class.
          type: dict
        errors:
          description: 5xx responses plus connection errors plus response errors.
          type: int
        error_ratio:
          description: C(errors) per request; null without requests.
          type: float
        connection_errors:
          description: Connection errors.
          type: int
        response_errors:
          description: Response errors.
          type: int
        retries:
          description: Retries.
          type: int
        redispatches:
          description: Redispatches.
          type: int
        requests_per_s:
          description: Requests per second.
          type: float
        errors_per_s:
          description: Errors per second.
          type: float
        mean_response_time_ms:
          description: Mean response time of the window's responses, ms (see the notes); null without responses.
          type: float
        counters_reset:
          description: HAProxy's counters went down in between; the window counts from the reset.
          type: bool
  sample:
    - backend: beam_nodes
      server: node1
      status: UP
      weight: 1
      sessions_current: 2
      sessions_total: 1535
      requests: 1535
      requests_from: req_tot
      responses: {"1xx": 0, "2xx": 1520, "3xx": 0, "4xx": 3, "5xx": 12, "other": 0}
      connection_errors: 0
      response_errors: 0
      retries: 0
      redispatches: 0
      queue_time_ms: 0
      connect_time_ms: 0
      response_time_ms: 41
      total_time_ms: 42
      missing: []
      window:
        seconds: 30.002
        requests: 600
        responses: {"1xx": 0, "2xx": 570, "3xx": 0, "4xx": 0, "5xx": 30, "other": 0}
        errors: 30
        error_ratio: 0.05
        connection_errors: 0
        response_errors: 0
        retries: 0
        redispatches: 0
        requests_per_s: 19.999
        errors_per_s: 1.0
        mean_response_time_ms: 40.2
        counters_reset: false
backends:
  description:
    - Per backend read, the same figures for the backend as a whole (HAProxy's C(BACKEND) row, all its
      servers counted) and C(servers), the names of all its servers. A backend without servers has an
      empty list.
  returned: success
  type: dict
  sample:
    beam_nodes: {servers: [node1, node2, node3], status: UP, weight: 3, requests: 4602, window: {requests: 1800}}
window_s:
  description: Seconds between the two reads as measured; null without O(window_s).
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import (
    ADMIN_SOCKET_RULES,
    HAProxyError,
    RuntimeAPI,
    admin_socket_problem,
    names_problem,
    read_argument_spec,
    read_stats,
    runtime_api,
    stat_window,
    stats_view,
)

MAX_WINDOW_S = 3600


def measure(api: RuntimeAPI, backends: list[str] | None, servers: list[str] | None, window_s: float | None):
    """One read, or two ``window_s`` apart with each entry's window. Returns (servers, backends, seconds)."""
    started = time.monotonic()
    entries, view = stats_view(read_stats(api, backends), servers)
    if window_s is None:
        return entries, view, None
    time.sleep(max(0.0, window_s - (time.monotonic() - started)))
    ended = time.monotonic()
    later, later_view = stats_view(read_stats(api, backends), servers)
    seconds = ended - started
    first = {(e["backend"], e["server"]): e for e in entries}
    for entry in later:
        entry["window"] = stat_window(first.get((entry["backend"], entry["server"])), entry, seconds)
    for name, backend in later_view.items():
        backend["window"] = stat_window(view.get(name), backend, seconds)
    return later, later_view, round(seconds, 3)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            servers=dict(type="list", elements="str"),
            window_s=dict(type="float"),
            **read_argument_spec(),
        ),
        **ADMIN_SOCKET_RULES,
        supports_check_mode=True,
    )
    params = module.params
    problem = admin_socket_problem(params)
    if problem:
        module.fail_json(msg=problem)
    window_s = params["window_s"]
    if window_s is not None and not 0 < window_s <= MAX_WINDOW_S:
        module.fail_json(
            msg=f"window_s must be above 0 and at most {MAX_WINDOW_S} seconds, got {window_s:g}: "
            "leave it out for a single read."
        )
    problem = names_problem({option: params[option] for option in ("backend", "servers")})
    if problem:
        module.fail_json(msg=problem)
    api = runtime_api(params)
    try:
        servers, backends, seconds = measure(api, params["backend"], params["servers"] or None, window_s)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc))
    except ValueError as exc:
        module.fail_json(msg=f"HAProxy's `show stat` answer through the {api.describe()} is not CSV: {exc}")
    module.exit_json(changed=False, servers=servers, backends=backends, window_s=seconds)


if __name__ == "__main__":
    main()
