#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: health_probe
short_description: Probe a service over HTTP, TCP or the Erlang distribution until it is steadily healthy
version_added: 0.1.0
description:
  - Repeats one check until it has succeeded O(successes) times in a row. A failure resets that count; the probe
    fails after O(retries) + 1 failed attempts or when O(timeout_s) passes, with the attempts, the latencies and the
    last error.
  - O(kind=http) sends a request and checks the status, a pattern of the body and response headers.
    O(kind=tcp) opens a TCP connection. O(kind=beam) asks the running node which release it runs (through
    C(release_handler)) and which applications it started, reaching it as the node fragment's notes say
    (as a hidden node of its own, without starting an Erlang VM, wherever the node allows it).
  - Runs on the target (a BEAM probe must) or on the control node (C(delegate_to)) for HTTP and TCP.
  - It never changes anything; in check mode it probes all the same (reading is safe).
author:
  - beamops.deploy contributors (@beamops)
options:
  kind:
    description: What to probe.
    type: str
    required: true
    choices: [http, tcp, beam]
  url:
    description:
      - URL to request, C(http://) or C(https://) only (C(file:), C(data:) and other schemes are refused). Required
        with O(kind=http).
      - Credentials in the URL (V(http://user:password@host/)) are sent, but never shown in messages and results.
    type: str
  method:
    description: HTTP method. Redirects are not followed, so a V(3xx) status is judged as it is.
    type: str
    default: GET
    choices: [GET, HEAD]
  status_codes:
    description: HTTP statuses that count as a success.
    type: list
    elements: int
    default: [200]
  body_regex:
    description:
      - Python regular expression the HTTP body must match (C(re.search)). Only the first 1 MiB of the body is
        read and matched; a body cut there says so when it does not match.
      - Checked before the first attempt; an invalid one fails at once.
    type: str
  headers:
    description: Headers sent with the HTTP request.
    type: dict
    default: {}
  expect_headers:
    description:
      - Response headers that must be present, each with a regular expression its value must match.
      - The expressions are checked before the first attempt.
    type: dict
    default: {}
  validate_certs:
    description: Verify the TLS certificate of an HTTPS URL.
    type: bool
    default: true
  host:
    description: Host to connect to with O(kind=tcp).
    type: str
    default: 127.0.0.1
  port:
    description: Port to connect to, from V(1) to V(65535). Required with O(kind=tcp).
    type: int
  root:
    description:
      - The release on the target, for O(kind=beam) (and O(release_version) with the other kinds). Either the
        deploy root holding a C(current) link to the release directory (V(/opt/app)), or the release directory
        itself (V(/opt/app/current)).
      - The same option as O(beamops.deploy.release_info#module:root).
    type: path
    aliases: [release_root]
  name:
    description:
      - Name of the release (its start script in C(bin/)). Required with O(kind=beam).
      - The same option as O(beamops.deploy.release_info#module:name).
    type: str
    aliases: [release_name]
  release_version:
    description:
      - Release version the node must run. The running version is the release marked V(current) by
        release_handler (during a hot upgrade), else the V(permanent) one, else the version of the boot script.
      - With O(kind=http) or O(kind=tcp), and O(root) and O(name) given, the node is asked once, after the
        probe got its successes, which release it runs (the same question as O(kind=beam)); the probe fails
        when the node does not answer or runs another release. The answer is in RV(release). A service that
        answers is then known to be the release expected in one task, not two.
    type: str
  applications:
    description: Applications the node must have started.
    type: list
    elements: str
    default: []
  successes:
    description: Consecutive successful attempts required.
    type: int
    default: 1
  retries:
    description: Failed attempts tolerated; the probe fails at the next one.
    type: int
    default: 3
  interval_s:
    description:
      - Seconds between two attempts.
      - The old name O(interval) is deprecated and will be removed in 1.0.0.
    type: float
    default: 1
    aliases: [interval]
  timeout_s:
    description:
      - Seconds the whole probe may take; it fails when the next attempt would start after that.
      - The old name O(timeout) is deprecated and will be removed in 1.0.0.
    type: float
    default: 60
    aliases: [timeout]
  attempt_timeout_s:
    description:
      - Seconds one attempt may take (HTTP request, TCP connect, or the node's answer).
      - An HTTP attempt is bounded by wall time, from connecting to the end of the body, however slowly the
        server sends it; no attempt runs past O(timeout_s).
      - The old name O(attempt_timeout) is deprecated and will be removed in 1.0.0.
    type: float
    default: 5
    aliases: [attempt_timeout]
  start_timeout_s:
    description:
      - Seconds a service that is still starting may take to answer at all. Until it answers (a success, an
        HTTP status, the node's reply; not a refused or silent connection) the check is repeated every 0.1 s
        and those attempts are not counted. That first answer counts, as a success or a failure, and
        O(retries), O(interval_s) and O(timeout_s) apply from then on. No answer in that time fails the probe.
      - V(0), the default, has no start phase, every failure counts.
      - Right after a restart, one task then waits for the service and probes it, instead of a port wait and
        then a probe. A release that starts and answers V(500) is failed by O(retries) as before, not waited for.
    type: float
    default: 0
extends_documentation_fragment:
  - beamops.deploy.node
  - beamops.deploy.attributes
  - beamops.deploy.attributes.read_only
notes:
  - For O(kind=beam), run the task as the user the node runs as (C(become_user)). O(node_name), O(cookie) and
    O(cookie_file) apply to O(kind=beam) only. The cookie is never in a command line (the relx script's C(eval)
    and mix's C(rpc) would pass it in arguments); the module also masks it in its results.
seealso:
  - module: beamops.deploy.lb_member
  - module: beamops.deploy.release_info
"""

EXAMPLES = r"""
- name: The node answers /health with 200 five times in a row
  beamops.deploy.health_probe:
    kind: http
    url: http://127.0.0.1:8080/health
    body_regex: '"status":\s*"ok"'
    successes: 5
    interval_s: 0.5
    retries: 10
    timeout_s: 60

- name: The node runs release 1.1.0 with its application started
  beamops.deploy.health_probe:
    kind: beam
    root: /opt/beamops_sample
    name: beamops_sample
    release_version: "1.1.0"
    applications: [beamops_sample, sasl]

- name: The load balancer accepts connections, seen from the control node
  beamops.deploy.health_probe:
    kind: tcp
    host: lb1.example.com
    port: 443
  delegate_to: localhost

- name: Through the load balancer, the answer carries the new version
  beamops.deploy.health_probe:
    kind: http
    url: https://www.example.com/
    expect_headers:
      x-beamops-version: ^1\.1\.0$
    successes: 3
  delegate_to: localhost
"""

RETURN = r"""
attempts:
  description: Attempts made.
  returned: always
  type: int
  sample: 3
successes:
  description: Consecutive successes at the end (V(0) when the last attempt failed).
  returned: always
  type: int
  sample: 3
failures:
  description: Failed attempts, in all.
  returned: always
  type: int
  sample: 0
latencies_ms:
  description: Duration of each attempt in milliseconds, in order.
  returned: always
  type: list
  elements: float
  sample: [4.1, 2.9, 3.3]
last_error:
  description: The error of the last failed attempt, or V(null) when none failed.
  returned: always
  type: str
  sample: "GET http://127.0.0.1:8080/health: HTTP 500, expected [200]; body: ''"
elapsed:
  description: Seconds the probe took.
  returned: always
  type: float
  sample: 2.01
start_s:
  description:
    - Seconds until the service first answered, with O(start_timeout_s); V(null) without a start phase or
      when it never answered.
  returned: always
  type: float
  sample: 0.42
details:
  description:
    - What the last attempt that got an answer saw (a failed one too, such as a node running another
      release). V(status) for HTTP; V(address) for TCP; for BEAM V(node),
      V(release_version) (running), V(permanent_version) (the one a restart boots), V(releases) (name, version
      and status of each), V(applications) (started) and V(cookie_source) (where the cookie the node accepted came from, never the cookie).
  returned: always
  type: dict
  sample: {node: beamops_sample@node1, release_version: 1.0.0, applications: [beamops_sample, sasl, stdlib, kernel]}
release:
  description:
    - What the node answered after an HTTP or TCP probe with O(release_version) (the keys of RV(details) for
      O(kind=beam)).
  returned: with O(kind=http) or O(kind=tcp) and O(release_version), when the node answered
  type: dict
  sample: {node: beamops_sample@node1, release_version: 1.1.0, permanent_version: 1.0.0,
           applications: [beamops_sample, sasl, stdlib, kernel]}
"""

import os
import re
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils._dist import (
    DistError,
    flag_for_given_name,
    node_argument_spec,
    seconds_option,
)
from ansible_collections.beamops.deploy.plugins.module_utils._otp import Node, OtpError, ReleaseRoot, release_node
from ansible_collections.beamops.deploy.plugins.module_utils._probe import (
    NamedReleaseRoot,
    ProbeFailure,
    Prober,
    beam_check,
    http_check,
    redact_url,
    tcp_check,
    url_problem,
)


def protect_cookies(module: AnsibleModule, release: ReleaseRoot) -> None:
    """Mask the cookie wherever it could surface in a result (an error text that quotes it)."""
    for path in (
        os.path.join(os.environ.get("HOME", "/nonexistent"), ".erlang.cookie"),
        os.path.join(release.path, "releases", "COOKIE"),
    ):
        try:
            with open(path, encoding="utf-8") as handle:
                cookie = handle.read().strip()
        except OSError:
            continue
        if cookie:
            module.no_log_values.add(cookie)


def validate(module: AnsibleModule) -> None:
    """Refuse option values that could only fail later, deep in an attempt, or leak what they hold."""
    p = module.params
    if (
        p["successes"] < 1
        or p["retries"] < 0
        or p["interval_s"] < 0
        or p["timeout_s"] <= 0
        or p["attempt_timeout_s"] <= 0
        or p["start_timeout_s"] < 0
    ):
        module.fail_json(
            msg="successes must be at least 1, retries, interval_s and start_timeout_s at least 0, timeout_s and "
            "attempt_timeout_s above 0."
        )
    if p["kind"] == "http":
        password = urlsplit(p["url"]).password if "@" in p["url"] else None
        if password:
            module.no_log_values.add(password)  # masked in the invocation too
        problem = url_problem(p["url"])
        if problem:
            module.fail_json(msg=f"Invalid url: {problem}. Give an http:// or https:// URL.")
    patterns = [("body_regex", p["body_regex"])] if p["body_regex"] is not None else []
    patterns += [(f"expect_headers[{name!r}]", value) for name, value in p["expect_headers"].items()]
    for option, pattern in patterns:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            module.fail_json(msg=f"Invalid {option}: {pattern!r} is not a Python regular expression ({exc}).")
    if p["kind"] == "tcp" and not 1 <= p["port"] <= 65535:
        module.fail_json(msg=f"Invalid port: {p['port']} is not between 1 and 65535.")
    if p["node_name"]:
        try:
            flag_for_given_name(p["node_name"])
        except DistError as exc:
            module.fail_json(msg=f"Invalid node_name: {exc}. Nothing was probed.")


def keywords(params: dict, *names: str, suffix: str = "") -> dict:
    """The options named name + suffix, as keyword arguments named name (the check's and the Prober's)."""
    return {name: params[name + suffix] for name in names}


def make_check(module: AnsibleModule):
    """The check of one attempt, as a function of its timeout."""
    p = module.params
    if p["kind"] == "http":
        options = keywords(p, "method", "headers", "status_codes", "body_regex", "expect_headers", "validate_certs")
        return lambda timeout: http_check(p["url"], timeout, **options)
    if p["kind"] == "tcp":
        return lambda timeout: tcp_check(p["host"], p["port"], timeout)
    node = make_node(module)
    return lambda timeout: beam_check(node, timeout, p["release_version"], p["applications"])


def make_node(module: AnsibleModule) -> Node:
    """The node of the release at root, for a BEAM check."""
    p = module.params
    located = ReleaseRoot.locate(p["root"], p["name"])
    release = NamedReleaseRoot(located.path, p["name"], p["node_name"])
    if not release.exists():
        module.fail_json(
            msg=f"Release {p['name']} not found on this host: no {release.script}. Check root "
            "and name, and run a beam probe on the node itself."
        )
    protect_cookies(module, release)
    try:
        _release, node = release_node(
            module, p, release, timeout=p["attempt_timeout_s"], timeout_option="attempt_timeout_s"
        )
    except OtpError as exc:
        module.fail_json(msg=f"Cannot address the node of release {p['name']}: {exc}. Set node_name.")
    return node


def confirm_release(module: AnsibleModule, result: dict) -> None:
    """After an HTTP or TCP probe that passed, ask the node once which release it runs."""
    p = module.params
    try:
        result["release"] = beam_check(
            make_node(module), p["attempt_timeout_s"], p["release_version"], p["applications"]
        )
    except ProbeFailure as exc:
        if exc.details:
            result["release"] = exc.details
        module.fail_json(
            msg=f"{p['kind']} probe passed, but the node of release {p['name']} is not what was expected: {exc}.",
            changed=False,
            **result,
        )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            kind=dict(type="str", required=True, choices=["http", "tcp", "beam"]),
            url=dict(type="str"),
            method=dict(type="str", default="GET", choices=["GET", "HEAD"]),
            status_codes=dict(type="list", elements="int", default=[200]),
            body_regex=dict(type="str"),
            headers=dict(type="dict", default={}),
            expect_headers=dict(type="dict", default={}),
            validate_certs=dict(type="bool", default=True),
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int"),
            root=dict(type="path", aliases=["release_root"]),
            name=dict(type="str", aliases=["release_name"]),
            release_version=dict(type="str"),
            applications=dict(type="list", elements="str", default=[]),
            successes=dict(type="int", default=1),
            retries=dict(type="int", default=3),
            interval_s=seconds_option("interval", "float", 1.0),
            timeout_s=seconds_option("timeout", "float", 60.0),
            attempt_timeout_s=seconds_option("attempt_timeout", "float", 5.0),
            start_timeout_s=dict(type="float", default=0.0),
            **node_argument_spec(),
        ),
        required_if=[
            ("kind", "http", ["url"]),
            ("kind", "tcp", ["port"]),
            ("kind", "beam", ["root", "name"]),
        ],
        required_by={"release_version": ["root", "name"]},
        supports_check_mode=True,
    )
    p = module.params
    validate(module)
    prober = Prober(
        make_check(module),
        **keywords(p, "successes", "retries"),
        **keywords(p, "interval", "timeout", "attempt_timeout", "start_timeout", suffix="_s"),
    )
    result = prober.run()
    ok, reason = result.pop("ok"), result.pop("reason")
    if not ok:
        target = {"http": redact_url(p["url"] or ""), "tcp": f"{p['host']}:{p['port']}", "beam": p["name"]}[p["kind"]]
        module.fail_json(
            msg=f"{p['kind']} probe of {target} failed: {result['successes']} consecutive successes of "
            f"{p['successes']} required after {result['attempts']} attempts ({reason}); last error: "
            f"{result['last_error']}. Fix what the last error names, or give the service more time "
            f"({'start_timeout_s' if result['start_s'] is None and p['start_timeout_s'] else 'retries, timeout_s'}).",
            changed=False,
            **result,
        )
    if p["kind"] != "beam" and p["release_version"]:
        confirm_release(module, result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
