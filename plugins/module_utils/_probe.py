# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Health probes: the attempt loop (N consecutive successes), HTTP, TCP and BEAM checks.

Private to the collection (the leading underscore): no compatibility promise to other users.
Every check takes a per-attempt timeout and returns a small dict of what it saw, or raises
ProbeFailure with a message that says what was asked, of whom, and what came back.
"""

from __future__ import annotations

import codecs
import http.client
import re
import socket
import threading
import time
import urllib.error
from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.beamops.deploy.plugins.module_utils import _net
from ansible_collections.beamops.deploy.plugins.module_utils._otp import (
    Node,
    OtpError,
    ReleaseRoot,
)

# The most bytes of a body read when body_regex is given (the regex sees only these), and without it (what
# a failure message quotes): a body that never ends is read no further, however fast it comes.
BODY_LIMIT = 1024 * 1024
EXCERPT_LIMIT = 4096
# What a socket wait raises when its timeout passes: socket.timeout is no TimeoutError before Python 3.10.


class ProbeFailure(Exception):
    """One failed attempt; details: what it saw when it got an answer (a status, a node's report)."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class Prober:
    """Attempts a check until `successes` consecutive successes, or too many failures, or the timeout.

    retries is the number of failed attempts tolerated: the probe fails at failure retries + 1.
    A failure resets the count of consecutive successes.

    With start_timeout above 0, a start phase comes first: the check is repeated every start_interval
    until the service answers (a success, or a failure that carries what was seen: an HTTP status, the
    node's reply), for at most start_timeout seconds; the silent attempts of that phase (connection
    refused, no answer) are not counted. The answer that ends it counts, as a success or a failure, and
    retries and timeout apply from then on. No answer within start_timeout fails the probe.
    """

    def __init__(
        self,
        check,
        successes: int = 1,
        retries: int = 3,
        interval: float = 1.0,
        timeout: float = 60.0,
        attempt_timeout: float = 5.0,
        start_timeout: float = 0.0,
        start_interval: float = 0.1,
        clock=time.monotonic,
        sleeper=time.sleep,
    ) -> None:
        self.check = check
        self.successes = successes
        self.retries = retries
        self.interval = interval
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.start_timeout = start_timeout
        self.start_interval = start_interval
        self.clock = clock
        self.sleeper = sleeper

    def run(self) -> dict:
        started = self.clock()
        attempts = failures = consecutive = 0
        latencies: list[float] = []
        last_error = None
        details: dict = {}
        reason = None
        start_s = None

        def attempt(deadline: float) -> str:
            """One check: "ok", "failed" (it answered, wrongly) or "silent" (no answer)."""
            nonlocal attempts, details, last_error
            budget = max(0.1, min(self.attempt_timeout, deadline - self.clock()))
            t0 = self.clock()
            try:
                details = self.check(budget) or {}
                outcome = "ok"
            except ProbeFailure as exc:
                last_error = str(exc)
                details = exc.details or details
                outcome = "failed" if exc.details else "silent"
            attempts += 1
            latencies.append(round((self.clock() - t0) * 1000, 1))
            return outcome

        def count(outcome: str) -> None:
            nonlocal consecutive, failures, reason
            if outcome == "ok":
                consecutive += 1
                return
            failures += 1
            consecutive = 0
            if failures > self.retries:
                reason = f"{failures} failed attempts, more than retries={self.retries}"

        if self.start_timeout > 0:
            start_deadline = started + self.start_timeout
            outcome = attempt(start_deadline)
            while outcome == "silent" and self.clock() + self.start_interval < start_deadline:
                self.sleeper(self.start_interval)
                outcome = attempt(start_deadline)
            if outcome == "silent":
                reason = f"no answer within start_timeout_s={self.start_timeout:g}s"
            else:
                start_s = round(self.clock() - started, 3)
                count(outcome)
        deadline = self.clock() + self.timeout
        while reason is None and consecutive < self.successes:
            if attempts:
                if self.clock() + self.interval >= deadline:
                    reason = f"timeout_s={self.timeout:g}s reached"
                    break
                self.sleeper(self.interval)
            count(attempt(deadline))
        return {
            "ok": reason is None,
            "reason": reason,
            "attempts": attempts,
            "successes": consecutive,
            "failures": failures,
            "latencies_ms": latencies,
            "last_error": last_error,
            "elapsed": round(self.clock() - started, 3),
            "start_s": start_s,
            "details": details,
        }


def redact_url(url: str) -> str:
    """The URL without its user:password@ part, for messages and results."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def url_problem(url: str) -> str | None:
    """None when url is an http:// or https:// URL with a host, else why not (credentials never echoed)."""
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # reading the port raises ValueError when it is not a number up to 65535
            return "its port is 0"
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"its scheme is {parts.scheme or 'missing'!r}: only http and https are probed"
    if not parts.hostname:
        return "it has no host"
    return None


def timed_out(exc: BaseException) -> bool:
    """True for a socket timeout, raised as is or wrapped by urllib (URLError.reason), on any Python."""
    return isinstance(exc, _net.TIMEOUTS) or isinstance(getattr(exc, "reason", None), _net.TIMEOUTS)


def no_answer(what: str, timeout: float) -> ProbeFailure:
    return ProbeFailure(f"{what}: no complete answer within {round(timeout, 2):g}s (attempt_timeout_s)")


def within(timeout: float, what: str, func):
    """func() bounded by timeout seconds of wall time, however slowly a server sends its bytes.

    The work runs in a daemon thread; past the timeout the attempt fails and the thread is
    abandoned (it ends at its next read, or with the process).
    """
    box: dict = {}

    def work():
        try:
            box["value"] = func()
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=work, name="beamops-probe-attempt", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise no_answer(what, timeout)
    if "error" in box:
        raise box["error"]
    return box["value"]


def http_check(
    url: str,
    timeout: float,
    method: str = "GET",
    headers: dict | None = None,
    status_codes: list[int] | tuple[int, ...] = (200,),
    body_regex: str | None = None,
    expect_headers: dict | None = None,
    validate_certs: bool = True,
) -> dict:
    """One HTTP request: the status must be listed, the body match, the expected headers match.

    Only http and https URLs are requested; messages carry the URL without its credentials. The
    whole attempt (connect, headers, body) takes at most timeout seconds of wall time. At most
    BODY_LIMIT bytes of the body are read with body_regex, EXCERPT_LIMIT without (none for HEAD).
    """
    problem = url_problem(url)
    if problem:  # the URL is not echoed: a data: URL holds its content
        raise ProbeFailure(f"{method} refused: the url is not http(s), {problem}")
    shown = redact_url(url)
    userinfo = urlsplit(url).netloc.rpartition("@")[0]

    def clean(text) -> str:
        text = str(text).replace(url, shown)
        return text.replace(userinfo, "***") if userinfo else text

    limit = 0 if method == "HEAD" else BODY_LIMIT if body_regex else EXCERPT_LIMIT

    def request():
        deadline = time.monotonic() + timeout
        try:
            response = open_url(
                url,
                method=method,
                headers=headers or {},
                timeout=timeout,
                validate_certs=validate_certs,
                follow_redirects="none",
            )
        except urllib.error.HTTPError as exc:
            # A status outside 2xx is an answer too: judge it below like any other.
            response = exc
        except OSError as exc:
            if timed_out(exc):
                raise no_answer(f"{method} {shown}", timeout) from None
            raise ProbeFailure(clean(f"{method} {shown}: {getattr(exc, 'reason', None) or exc}")) from None
        except (http.client.HTTPException, UrlsConnectionError, ValueError) as exc:
            raise ProbeFailure(clean(f"{method} {shown}: {type(exc).__name__}: {exc}")) from None
        try:
            status = response.code if isinstance(response, urllib.error.HTTPError) else response.status
            chunks: list[bytes] = []
            size = 0
            matched = False
            # A body that matches is judged at once: a stream (events, long poll) never ends. Each chunk
            # is searched from a little before it (a match across chunks), with the whole text before
            # it in view, so ^ and lookbehinds mean what they mean on the whole body.
            pattern = re.compile(body_regex) if body_regex else None
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            text = ""
            # read1 hands over what has arrived; read(n) would wait for all n bytes or the end.
            read = getattr(response, "read1", None) or response.read
            while size < limit:
                if time.monotonic() >= deadline:
                    raise no_answer(f"{method} {shown}", timeout)
                chunk = read(min(65536, limit - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if pattern is not None:
                    start = max(0, len(text) - 4096)
                    text += decoder.decode(chunk)
                    if pattern.search(text, start):
                        matched = True
                        break
            # One byte more tells a body cut at the limit from one that ends there.
            cut = bool(body_regex) and not matched and size >= limit and bool(response.read(1))
            return status, b"".join(chunks), response.headers, cut
        except (OSError, http.client.HTTPException) as exc:
            if timed_out(exc):
                raise no_answer(f"{method} {shown}", timeout) from None
            raise ProbeFailure(clean(f"{method} {shown}: reading the answer failed: {exc}")) from None
        finally:
            response.close()

    status, body, got_headers, cut = within(timeout, f"{method} {shown}", request)
    text = body.decode("utf-8", "replace")
    seen = {"status": status}
    if status not in status_codes:
        excerpt = " ".join(text.split())[:120]
        raise ProbeFailure(f"{method} {shown}: HTTP {status}, expected {list(status_codes)}; body: {excerpt!r}", seen)
    if body_regex and not re.search(body_regex, text):
        where = f" (its first {BODY_LIMIT // 1024} KiB: the rest is not read)" if cut else ""
        raise ProbeFailure(f"{method} {shown}: HTTP {status} but the body{where} does not match {body_regex!r}", seen)
    for name, pattern in (expect_headers or {}).items():
        value = got_headers.get(name) if got_headers is not None else None
        if value is None or not re.search(pattern, value):
            raise ProbeFailure(f"{method} {shown}: header {name}={value!r} does not match {pattern!r}", seen)
    return seen


def tcp_check(host: str, port: int, timeout: float) -> dict:
    """A TCP connection that opens within the timeout (port 1 to 65535)."""
    if not 1 <= port <= 65535:
        raise ProbeFailure(f"TCP connect to {host}:{port}: refused, the port is not between 1 and 65535")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except _net.TIMEOUTS as exc:
        raise ProbeFailure(
            f"TCP connect to {host}:{port}: no connection within {round(timeout, 2):g}s (attempt_timeout_s)"
        ) from exc
    except OSError as exc:
        raise ProbeFailure(f"TCP connect to {host}:{port}: {exc}") from exc
    return {"address": f"{host}:{port}"}


# What the node reports about itself, asked from a hidden control node (_otp.Node.call: the
# cookie is found in the release or given, and passed in a private file, never in arguments). Every rpc has a
# timeout, so that a node that hangs fails the attempt instead of the whole probe.
class NamedReleaseRoot(ReleaseRoot):
    """A release whose node name is given, or is mix's default (-sname <release>) when vm.args has none."""

    def __init__(self, path: str, name: str, node_name: str | None = None) -> None:
        super().__init__(path, name)
        self.given_name = node_name

    def node_name(self) -> tuple[str, str]:
        if self.given_name:  # checked like any node name given: OtpError when it is not one
            return super().node_name(self.given_name)
        try:
            return super().node_name()
        except OtpError:
            return "-sname", f"{self.name}@{socket.gethostname().split('.')[0]}"


def beam_check(node: Node, timeout: float, release_version: str | None, applications: list[str]) -> dict:
    """One question to the node (Node.status, the question every module asks): is it up, which
    release runs, which applications started."""
    try:
        state = node.status(timeout)
    except OtpError as exc:
        raise ProbeFailure(str(exc)) from exc
    if not state["up"]:
        raise ProbeFailure(node.unreachable_reason or f"node {node.name} does not answer")
    try:
        details = interpret_status(state, release_version, applications)
    except ProbeFailure as exc:
        if exc.details:
            exc.details["cookie_source"] = node.cookie_source
        raise
    details["cookie_source"] = node.cookie_source
    return details


def interpret_status(state: dict, release_version: str | None, applications: list[str]) -> dict:
    """A node's status (_otp.parse_status) -> the probe's details, or ProbeFailure when it is not what
    was expected."""
    node = state["name"]
    for what in ("release_handler", "init", "application"):
        if what in state["rpc_errors"] and not (what == "release_handler" and state["running_version"]):
            raise ProbeFailure(f"node {node}: asking {what} failed: {state['rpc_errors'][what]}")
    version = state["running_version"]
    apps = state["applications"]
    details = {
        "node": node,
        "release_version": version,
        "permanent_version": state.get("permanent_version"),
        "releases": state["releases"],
        "applications": apps,
    }
    if release_version and version != release_version:
        raise ProbeFailure(f"node {node} runs release {version}, expected {release_version}", details)
    missing = [a for a in applications if a not in apps]
    if missing:
        raise ProbeFailure(f"node {node} has not started {', '.join(missing)}", details)
    return details


# --- the HTTP probe an upgrade module runs in its own call (cold_upgrade, hot_upgrade) -------------------
# Its suboptions are documented once, in the doc fragment beamops.deploy.upgrade_probe.
UPGRADE_PROBE_SPEC = {
    "url": {"type": "str", "required": True},
    "status_codes": {"type": "list", "elements": "int", "default": [200]},
    "body_regex": {"type": "str"},
    "successes": {"type": "int", "default": 3},
    "retries": {"type": "int", "default": 3},
    "interval_s": {"type": "float", "default": 1.0},
    "timeout_s": {"type": "float", "default": 60.0},
    "attempt_timeout_s": {"type": "float", "default": 5.0},
}


def upgrade_probe_problem(probe: dict, no_log_values: set) -> str | None:
    """Why the probe option cannot work (a message naming the suboption), None when it can. A password in
    probe.url goes to no_log_values, so that it is masked in every message and result."""
    if probe["successes"] < 1 or probe["retries"] < 0 or probe["interval_s"] < 0:
        return "probe.successes must be at least 1, probe.retries and probe.interval_s at least 0"
    if probe["timeout_s"] <= 0 or probe["attempt_timeout_s"] <= 0:
        return "probe.timeout_s and probe.attempt_timeout_s must be above 0"
    password = urlsplit(probe["url"]).password if "@" in probe["url"] else None
    if password:
        no_log_values.add(password)
    problem = url_problem(probe["url"])
    if problem:
        return f"Invalid probe.url: {problem}. Give an http:// or https:// URL"
    if probe["body_regex"] is not None:
        try:
            re.compile(probe["body_regex"])
        except re.error as exc:
            return f"Invalid probe.body_regex: {probe['body_regex']!r} is not a Python regular expression ({exc})"
    return None


def upgrade_probe(probe: dict, start_timeout: float = 0.0, successes: int | None = None) -> tuple[dict, str | None]:
    """Run the probe option's HTTP probe: (figures, None) when it passed, (figures, the failure's message).

    start_timeout: seconds the endpoint may take to answer at all (a node just restarted); successes: in a row,
    instead of probe.successes (one, after a step that changed no running code)."""
    options = {
        "method": "GET",
        "headers": {},
        "status_codes": probe["status_codes"],
        "body_regex": probe["body_regex"],
        "expect_headers": {},
        "validate_certs": True,
    }
    wanted = probe["successes"] if successes is None else successes
    prober = Prober(
        lambda timeout: http_check(probe["url"], timeout, **options),
        successes=wanted,
        retries=probe["retries"],
        interval=probe["interval_s"],
        timeout=probe["timeout_s"],
        attempt_timeout=probe["attempt_timeout_s"],
        start_timeout=start_timeout,
    )
    figures = prober.run()
    ok, reason = figures.pop("ok"), figures.pop("reason")
    if ok:
        return figures, None
    more = "start_timeout_s" if figures["start_s"] is None and start_timeout else "probe.retries, probe.timeout_s"
    return figures, (
        f"http probe of {redact_url(probe['url'])} failed: {figures['successes']} consecutive successes of "
        f"{wanted} required after {figures['attempts']} attempts ({reason}); last error: "
        f"{figures['last_error']}. Fix what the last error names, or give the service more time ({more})"
    )
