# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes: consecutive-success counting, HTTP against a real loopback server, TCP, the node's answer."""

from __future__ import annotations

import socket
import time
import urllib.error
from functools import partial

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _probe
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import parse
from ansible_collections.beamops.deploy.plugins.module_utils._otp import NODEDOWN, OtpError, parse_status
from ansible_collections.beamops.deploy.plugins.module_utils._probe import (
    BODY_LIMIT,
    NamedReleaseRoot,
    ProbeFailure,
    Prober,
    http_check,
    interpret_status,
    redact_url,
    tcp_check,
)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def scripted(outcomes, clock=None, cost=0.0):
    """A check that succeeds (True), fails with an answer (False) or gets no answer (None) in the given
    order, each attempt costing `cost`."""
    outcomes = iter(outcomes)

    def check(_timeout):
        if clock is not None:
            clock.now += cost
        outcome = next(outcomes)
        if outcome:
            return {"answer": "ok"}
        if outcome is None:
            raise ProbeFailure("refused")
        raise ProbeFailure("boom", {"answer": "bad"})

    return check


def run_scripted(outcomes, cost=0.0, **options):
    """A Prober of a scripted check (each attempt costing `cost`) run on a fake clock: the result and the clock."""
    clock = Clock()
    result = Prober(scripted(outcomes, clock, cost), clock=clock, sleeper=clock.sleep, **options).run()
    return result, clock


def test_consecutive_successes_required_and_reset_by_a_failure():
    result, _clock = run_scripted([True, True, False, True, True, True], successes=3, retries=3)
    assert result["ok"] and result["attempts"] == 6 and result["successes"] == 3 and result["failures"] == 1
    assert result["last_error"] == "boom" and result["details"] == {"answer": "ok"}
    assert len(result["latencies_ms"]) == 6


def test_fails_after_retries_plus_one_failures():
    result, _clock = run_scripted([True, False] * 10, successes=3, retries=2, interval=0.5)
    assert not result["ok"] and result["attempts"] == 6 and result["failures"] == 3 and result["successes"] == 0
    assert "more than retries=2" in result["reason"] and result["details"] == {"answer": "bad"}


def test_overall_timeout_stops_a_probe_that_never_settles():
    result, _clock = run_scripted([True, False] * 100, cost=1.0, successes=2, retries=1000, interval=1.0, timeout=10)
    assert not result["ok"] and "timeout_s=10s" in result["reason"]
    assert result["attempts"] == 5 and result["elapsed"] <= 10


def test_start_phase_polls_fast_and_does_not_count_a_service_that_does_not_answer_yet():
    result, clock = run_scripted(
        [None] * 7 + [True, False, True, True, True],
        successes=3,
        retries=1,
        interval=0.5,
        start_timeout=5,
        start_interval=0.1,
    )
    # 7 refusals while starting (0.1 s apart), the first success, then one counted failure that resets the
    # count (retries=1 tolerates it), then 3 in a row 0.5 s apart.
    assert result["ok"] and result["attempts"] == 12 and result["failures"] == 1 and result["successes"] == 3
    assert result["start_s"] == pytest.approx(0.7) and clock.now == pytest.approx(0.7 + 4 * 0.5)


def test_start_phase_ends_at_a_wrong_answer_which_counts_as_a_failure():
    """A release that starts and answers 500 is judged by retries at once, not waited for start_timeout."""
    result, clock = run_scripted(
        [None, None, False, False, False] + [False] * 100, successes=2, retries=2, interval=0.5, start_timeout=60
    )
    assert not result["ok"] and "more than retries=2" in result["reason"]
    assert result["attempts"] == 5 and result["failures"] == 3 and result["start_s"] == pytest.approx(0.2)
    assert clock.now == pytest.approx(0.2 + 2 * 0.5)


def test_start_phase_without_an_answer_fails_at_start_timeout():
    result, clock = run_scripted([None] * 1000, successes=1, retries=0, start_timeout=2)
    assert not result["ok"] and "no answer within start_timeout_s=2s" in result["reason"]
    assert result["failures"] == 0 and result["attempts"] == 20 and result["start_s"] is None
    assert result["last_error"] == "refused" and clock.now < 2


def test_start_phase_success_counts_toward_the_successes():
    result, _clock = run_scripted([True], successes=1, start_timeout=5)
    assert result["ok"] and result["attempts"] == 1 and result["start_s"] == 0


def test_alternating_200_500_never_reaches_three_consecutive_successes(http_server):
    url = http_server()
    result = Prober(partial(http_check, url), successes=3, retries=4, interval=0.01, timeout=20).run()
    assert not result["ok"]
    assert result["attempts"] == 10 and result["failures"] == 5
    assert result["successes"] == 0 and "HTTP 500" in result["last_error"]
    assert result["details"] == {"status": 500}
    assert all(ms >= 0 for ms in result["latencies_ms"]) and len(result["latencies_ms"]) == 10


def test_steady_200_passes_with_body_and_header_checks(http_server):
    url = http_server(fixed=200)
    check = partial(http_check, url, body_regex=r'"status":"ok"', expect_headers={"X-Beamops-Version": r"^1\.0\.0$"})
    result = Prober(check, successes=3, interval=0.01).run()
    assert result["ok"] and result["attempts"] == 3 and result["details"] == {"status": 200}


def test_http_check_failures_say_what_was_expected(http_server):
    url = http_server(fixed=500)
    with pytest.raises(ProbeFailure, match=r"GET .*: HTTP 500, expected \[200\]; body: '.*failing"):
        http_check(url, 2)
    assert http_check(url, 2, status_codes=[500]) == {"status": 500}
    ok = http_server(fixed=200)
    with pytest.raises(ProbeFailure, match="body does not match"):
        http_check(ok, 2, body_regex="nope")
    with pytest.raises(ProbeFailure, match="header x-missing=None"):
        http_check(ok, 2, expect_headers={"x-missing": "."})
    with pytest.raises(ProbeFailure, match=r"GET http://127\.0\.0\.1:1/: .*refused"):
        http_check("http://127.0.0.1:1/", 2)


def test_tcp_check():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert tcp_check("127.0.0.1", port, 2) == {"address": f"127.0.0.1:{port}"}
    with pytest.raises(ProbeFailure, match=rf"TCP connect to 127\.0\.0\.1:{port}: .*refused"):
        tcp_check("127.0.0.1", port, 2)


# What the hidden control node printed for Node.status_body() in the lab (node1 on 1.0.0), and a node
# during a hot upgrade.
LAB_ANSWER = """{beamops_status,'beamops_sample@lbdev-node1',
               [{"beamops_sample","1.0.0",
                 ["kernel-8.5.3","stdlib-4.2","sasl-4.2",
                  "beamops_sample-1.0.0"],
                 permanent}],
               <0.44.0>, "4711",
               [{beamops_sample,"beamops.deploy sample HTTP service (hot upgrade fixtures)",
                                "1.0.0"},
                {sasl,"SASL  CXC 138 11","4.2"},
                {stdlib,"ERTS  CXC 138 10","4.2"},
                {kernel,"ERTS  CXC 138 10","8.5.3"}],
               "/opt/beamops_sample/releases/1.0.0",
               {"beamops_sample","1.0.0"}}"""
UPGRADING = """{beamops_status,'beamops_ex@h',
    [{"beamops_ex","1.1.0",[],current},{"beamops_ex","1.0.0",[],permanent}],
    <0.44.0>, "12", [{beamops_ex,"d","1.1.0"},{kernel,"d","8.5.3"}], "/opt/ex", {"beamops_ex","1.0.0"}}"""


def status(text, name="a@h"):
    return parse_status(parse(text), name)


def test_beam_answer_running_version_and_applications():
    state = status(LAB_ANSWER, "beamops_sample@lbdev-node1")
    assert (state["os_pid"], state["root_dir"], state["rpc_errors"]) == (
        "4711",
        "/opt/beamops_sample/releases/1.0.0",
        {},
    )
    seen = interpret_status(state, "1.0.0", ["beamops_sample", "sasl"])
    assert seen["node"] == "beamops_sample@lbdev-node1" and seen["release_version"] == "1.0.0"
    assert seen["applications"] == ["beamops_sample", "sasl", "stdlib", "kernel"]
    assert seen["releases"] == [{"name": "beamops_sample", "version": "1.0.0", "status": "permanent"}]
    # During a hot upgrade the `current` release is the one running.
    upgrading = interpret_status(status(UPGRADING), "1.1.0", [])
    assert (upgrading["release_version"], upgrading["permanent_version"]) == ("1.1.0", "1.0.0")
    assert status(UPGRADING)["permanent_version"] == "1.0.0"
    assert seen["permanent_version"] == "1.0.0"
    with pytest.raises(ProbeFailure, match=r"runs release 1\.1\.0, expected 1\.0\.0") as failed:
        interpret_status(status(UPGRADING), "1.0.0", [])
    assert failed.value.details["release_version"] == "1.1.0"
    with pytest.raises(ProbeFailure, match="has not started beamops_web"):
        interpret_status(status(LAB_ANSWER), None, ["beamops_web"])


def test_beam_answer_without_release_handler_uses_the_boot_script():
    # A node without sasl: release_handler is not running, the boot script names the release.
    answer = (
        '{beamops_status, a@h, {badrpc, {\'EXIT\', noproc}}, <0.1.0>, "1", [{a, "d", "2.0.0"}], "/r", {"a", "2.0.0"}}'
    )
    state = status(answer)
    assert state["running_version"] == "2.0.0" and "release_handler" in state["rpc_errors"]
    assert interpret_status(state, "2.0.0", ["a"])["release_version"] == "2.0.0"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            "{beamops_status, a@h, {badrpc, timeout}, {badrpc, timeout}, {badrpc, timeout}, {badrpc, timeout},"
            " {badrpc, timeout}, {badrpc, timeout}}",
            "release_handler failed",
        ),
        ('{beamops_status, a@h, [], <0.1.0>, "1", {badrpc, nodedown}, "/r", {"a", "1"}}', "application failed"),
    ],
)
def test_beam_answer_errors(answer, error):
    with pytest.raises(ProbeFailure, match=error):
        interpret_status(status(answer), None, [])


def test_an_answer_not_understood_is_an_error_naming_the_node():
    with pytest.raises(OtpError, match="answer of node a@h is not understood"):
        status("{error, oops}")
    assert parse_status(NODEDOWN, "a@h", unreachable_reason="epmd silent") == parse_status(NODEDOWN, "a@h") | {
        "unreachable_reason": "epmd silent"
    }


def test_node_name_given_read_or_mix_default(tmp_path):
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)
    (tmp_path / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    assert NamedReleaseRoot(str(tmp_path), "app", "app@db1.example.com").node_name() == (
        "-name",
        "app@db1.example.com",
    )
    assert NamedReleaseRoot(str(tmp_path), "app", "app@db1").node_name() == ("-sname", "app@db1")
    flag, name = NamedReleaseRoot(str(tmp_path), "app").node_name()
    assert flag == "-sname" and name.startswith("app@")
    (tmp_path / "releases" / "1.0.0" / "vm.args").write_text("-sname svc\n")
    assert NamedReleaseRoot(str(tmp_path), "app").node_name()[1].startswith("svc@")


def test_http_check_refuses_other_schemes_and_hides_credentials(tmp_path):
    (tmp_path / "f").write_text("CONTENT")
    for url in (f"file://{tmp_path}/f", "data:,CONTENT"):
        with pytest.raises(ProbeFailure, match="only http and https") as refused:
            http_check(url, 1)
        assert "CONTENT" not in str(refused.value)
    with pytest.raises(ProbeFailure) as failed:
        http_check("http://me:s3cr3t@127.0.0.1:1/x", 1)
    assert "s3cr3t" not in str(failed.value) and "http://127.0.0.1:1/x" in str(failed.value)
    assert redact_url("https://me:pw@h:8443/p?q=1") == "https://h:8443/p?q=1"
    assert redact_url("http://h/") == "http://h/"


def test_tcp_check_refuses_a_port_outside_the_range():
    with pytest.raises(ProbeFailure, match="not between 1 and 65535"):
        tcp_check("127.0.0.1", 99999, 1)


HEADERS_200 = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"


def endless_body(stop, conn):
    conn.sendall(HEADERS_200)
    block = b"status: starting " * 4096
    while not stop.is_set():
        conn.sendall(block)


def dripping_body(stop, conn):
    conn.sendall(HEADERS_200)
    while not stop.is_set():
        conn.sendall(b"x")
        time.sleep(0.05)


def failure_within(timeout: float, url: str, **kwargs) -> str:
    """The message of the ProbeFailure that http_check(url, timeout, **kwargs) ends in: it must come within
    timeout + 1 s."""
    started = time.monotonic()
    with pytest.raises(ProbeFailure) as failed:
        http_check(url, timeout, **kwargs)
    assert time.monotonic() - started < timeout + 1
    return str(failed.value)


def test_an_endless_body_is_read_up_to_the_limit_only(raw_http):
    url = raw_http(endless_body)
    assert failure_within(2, url, body_regex='"status":"ok"') == (
        f'GET {url}: HTTP 200 but the body (its first 1024 KiB: the rest is not read) does not match \'"status":"ok"\''
    )
    # Without body_regex only what a message may quote is read: the status decides.
    assert http_check(url, 2) == {"status": 200}
    assert BODY_LIMIT == 1024 * 1024


def streaming_body(stop, conn):
    """An endpoint that answers and keeps the connection open (an event stream, a long poll)."""
    conn.sendall(HEADERS_200 + b"status: ok\n" + b"." * 70000)
    stop.wait(30)


def test_a_body_that_matches_is_judged_at_once_though_it_never_ends(raw_http):
    url = raw_http(streaming_body)
    started = time.monotonic()
    assert http_check(url, 3, body_regex="status: ok") == {"status": 200}
    assert time.monotonic() - started < 1
    # ^ is the body's start, not a chunk's: the dots after the first line never match "^\.".
    with pytest.raises(ProbeFailure, match="no complete answer within 1s"):
        http_check(url, 1, body_regex=r"^\.")


def test_a_dripping_body_ends_at_attempt_timeout_s(raw_http):
    url = raw_http(dripping_body)
    assert failure_within(0.5, url, body_regex="ok") == f"GET {url}: no complete answer within 0.5s (attempt_timeout_s)"


def test_a_silent_server_ends_at_attempt_timeout_s(raw_http):
    url = raw_http(lambda stop, _conn: stop.wait(10))
    assert failure_within(0.5, url) == f"GET {url}: no complete answer within 0.5s (attempt_timeout_s)"


# What Python 3.8 and 3.9 raise: socket.timeout, no TimeoutError there (ruff's UP041 would merge the two).
TIMEOUT_38 = socket.timeout("timed out")  # noqa: UP041


@pytest.mark.parametrize("raised", [TIMEOUT_38, urllib.error.URLError(TIMEOUT_38)], ids=["raw", "urllib"])
def test_an_http_socket_timeout_names_attempt_timeout_s_on_every_python(monkeypatch, raised):
    def times_out(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(_probe, "open_url", times_out)
    with pytest.raises(ProbeFailure) as failed:
        http_check("http://192.0.2.1:8080/health", 0.5)
    assert str(failed.value) == "GET http://192.0.2.1:8080/health: no complete answer within 0.5s (attempt_timeout_s)"


def test_a_tcp_connect_timeout_names_attempt_timeout_s_on_every_python(monkeypatch):
    def times_out(*_args, **_kwargs):
        raise TIMEOUT_38

    monkeypatch.setattr(_probe.socket, "create_connection", times_out)
    with pytest.raises(ProbeFailure) as failed:
        tcp_check("192.0.2.1", 4369, 0.5)
    assert str(failed.value) == "TCP connect to 192.0.2.1:4369: no connection within 0.5s (attempt_timeout_s)"
