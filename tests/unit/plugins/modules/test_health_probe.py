# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_probe end to end: a flapping HTTP service fails the probe; a stand-in for the release's erl
shows what the module runs, and that the cookie is neither in its arguments nor in the results."""

from __future__ import annotations

import json
import re
import socket
import stat
import threading
import time

import pytest

from ansible_collections.beamops.deploy.plugins.modules import health_probe

COOKIE = "SECRETCOOKIEVALUEFORTESTS"


def test_flapping_service_fails_with_attempts_and_last_error(run_module, http_server):
    url = http_server()
    args = {"kind": "http", "url": url, "successes": 3, "retries": 3, "interval_s": 0.01, "_ansible_check_mode": True}
    result = run_module(health_probe, args)
    assert result["failed"] and not result["changed"]
    assert result["attempts"] == 8 and result["failures"] == 4 and result["successes"] == 0
    assert "HTTP 500" in result["last_error"] and "0 consecutive successes of 3" in result["msg"]


def test_steady_service_passes_in_check_mode_too(run_module, http_server):
    url = http_server(fixed=200)
    args = {"kind": "http", "url": url, "successes": 2, "interval_s": 0.01, "_ansible_check_mode": True}
    result = run_module(health_probe, args)
    assert not result["changed"] and result["attempts"] == 2 and result["last_error"] is None


def fake_release(tmp_path, output: str, rc: int = 0):
    """A release directory whose erts erl records its arguments and prints `output`."""
    root = tmp_path / "rel"
    for folder in ("bin", "releases/1.0.0", "erts-13.1.5/bin"):
        (root / folder).mkdir(parents=True)
    (root / "bin" / "app").write_text("#!/bin/sh\nexit 1\n")
    (root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    (root / "releases" / "1.0.0" / "vm.args").write_text("-sname app\n")
    erl = root / "erts-13.1.5" / "bin" / "erl"
    erl.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\ncat <<\'EOF\'\n{output}\nEOF\nexit {rc}\n')
    erl.chmod(erl.stat().st_mode | stat.S_IXUSR)
    return root


ANSWER = """
BEAMOPS-RESULT
{beamops_reached,1,{beamops_status,'app@h',[{"app","1.0.0",[],permanent}],<0.44.0>,"77",
 [{app,"d","1.0.0"},{kernel,"d","8.5.3"}],"/opt/app",{"app","1.0.0"}}}.
"""


@pytest.fixture
def app_node(tmp_path, monkeypatch, fake_epmd):
    """A node `app` as the probe finds it: a fake epmd names it, its cookie is in $HOME/.erlang.cookie (HOME:
    tmp_path). The fake epmd."""
    epmd = fake_epmd({"app": 40001})
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".erlang.cookie").write_text(COOKIE)
    return epmd


def test_beam_probe_asks_the_node_without_the_cookie_in_arguments(run_module, tmp_path, app_node):
    root = fake_release(tmp_path, ANSWER)
    args = {"kind": "beam", "release_root": str(root), "release_name": "app", "release_version": "1.0.0"}
    result = run_module(health_probe, dict(args, applications=["app"]))
    assert result["details"]["release_version"] == "1.0.0" and result["details"]["node"] == "app@h"
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:4] == ["-noshell", "-noinput", "-hidden", "-sname"]
    assert "-setcookie" not in argv and COOKIE not in "".join(argv)
    assert any("which_releases" in a for a in argv)


@pytest.mark.parametrize(("expected", "fails"), [("1.0.0", False), ("1.1.0", True)])
def test_http_probe_with_a_release_version_asks_the_node_once_after_its_successes(
    run_module, http_server, tmp_path, app_node, expected, fails
):
    root = fake_release(tmp_path, ANSWER)  # a node that runs 1.0.0
    args = {"kind": "http", "url": http_server(fixed=200), "successes": 2, "interval_s": 0.01, "root": str(root)}
    result = run_module(health_probe, dict(args, name="app", release_version=expected))
    assert result["attempts"] == 2 and result["release"]["release_version"] == "1.0.0"
    assert (tmp_path / "argv").exists() and COOKIE not in json.dumps(result)
    assert bool(result.get("failed")) is fails
    if fails:
        assert "http probe passed, but the node of release app is not what was expected" in result["msg"]
        assert "runs release 1.0.0, expected 1.1.0" in result["msg"]


def test_a_release_version_without_root_and_name_is_refused(run_module, http_server):
    result = run_module(health_probe, {"kind": "http", "url": http_server(fixed=200), "release_version": "1.0.0"})
    assert result["failed"] and "release_version" in result["msg"] and "root" in result["msg"]


def test_beam_probe_masks_a_cookie_the_node_side_prints(run_module, tmp_path, app_node):
    root = fake_release(tmp_path, f"Connecting with cookie {COOKIE} failed", rc=1)
    args = {"kind": "beam", "release_root": str(root), "release_name": "app", "retries": 0}
    result = run_module(health_probe, args)
    assert result["failed"] and "could not reach node app@" in result["last_error"]
    assert COOKIE not in json.dumps(result)


def test_beam_probe_names_a_missing_release(run_module, tmp_path):
    result = run_module(health_probe, {"kind": "beam", "release_root": str(tmp_path), "release_name": "nope"})
    assert result["failed"] and f"Release nope not found on this host: no {tmp_path}/bin/nope" in result["msg"]


def test_file_and_data_urls_are_refused_and_never_read(run_module, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for url in (f"file://{secret}", "data:text/plain,TOP-SECRET-CONTENT", "ftp://127.0.0.1/x", "http:///nohost"):
        result = run_module(health_probe, {"kind": "http", "url": url, "retries": 0, "status_codes": [200, 0]})
        assert result["failed"] and "Invalid url" in result["msg"] and "http:// or https://" in result["msg"]
        assert "TOP-SECRET-CONTENT" not in result["msg"] and "attempts" not in result


def test_credentials_in_the_url_are_never_echoed(run_module, http_server):
    url = http_server(fixed=500).replace("http://", "http://probe:hunter2pass@")
    result = run_module(health_probe, {"kind": "http", "url": url, "retries": 0})
    assert result["failed"] and "HTTP 500" in result["msg"]
    assert "hunter2pass" not in json.dumps(result) and "probe:" not in result["msg"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ({"body_regex": "(unclosed"}, "body_regex"),
        ({"expect_headers": {"x-version": "[1-"}}, "expect_headers['x-version']"),
    ],
)
def test_invalid_regexes_fail_at_once_naming_the_option(run_module, http_server, args, option):
    result = run_module(health_probe, dict({"kind": "http", "url": http_server(fixed=200)}, **args))
    assert result["failed"] and f"Invalid {option}" in result["msg"] and "regular expression" in result["msg"]
    assert "attempts" not in result


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_tcp_port_outside_1_to_65535_is_refused(run_module, port):
    result = run_module(health_probe, {"kind": "tcp", "host": "127.0.0.1", "port": port})
    assert result["failed"] and f"Invalid port: {port} is not between 1 and 65535" in result["msg"]


def drip_server(header_bytes: int):
    """A loopback HTTP server that sends its status line, then one header byte every 50 ms."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve():
        conns = []
        while not stop.is_set():
            listener.settimeout(0.1)
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=drip, args=(conn,), daemon=True).start()
        for conn in conns:
            conn.close()

    def drip(conn):
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _byte in range(header_bytes):
                if stop.is_set():
                    return
                conn.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/", stop, listener


def test_a_dripping_server_cannot_stretch_an_attempt_or_the_probe(run_module):
    url, stop, listener = drip_server(header_bytes=400)  # 20 s of headers
    try:
        started = time.monotonic()
        times = {"attempt_timeout_s": 0.5, "timeout_s": 1.2, "interval_s": 0.1}
        args = {"kind": "http", "url": url, **times, "retries": 10}
        result = run_module(health_probe, args)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert result["failed"] and "no complete answer within 0.5s" in result["last_error"]
    assert elapsed < 2.5 and all(ms < 900 for ms in result["latencies_ms"])


def test_start_phase_waits_for_a_port_that_opens_late_without_counting_its_refusals(run_module):
    """A service that starts listening 0.6 s after the probe began: with start_timeout_s, no failure counts
    (retries=0 would fail otherwise); without, the first refused connection fails it."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    args = {"kind": "tcp", "host": "127.0.0.1", "port": port, "retries": 0, "successes": 2, "interval_s": 0.05}
    assert run_module(health_probe, args)["failed"]

    listener = socket.socket()

    def listen_late():
        time.sleep(0.6)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)

    opener = threading.Thread(target=listen_late, daemon=True)
    opener.start()
    try:
        result = run_module(health_probe, dict(args, start_timeout_s=5))
    finally:
        opener.join()
        listener.close()
    assert not result.get("failed"), result
    assert result["failures"] == 0 and result["successes"] == 2 and result["attempts"] >= 4
    assert 0.5 <= result["start_s"] < 2.0


def test_no_answer_within_start_timeout_names_the_option(run_module):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    args = {"kind": "tcp", "host": "127.0.0.1", "port": port, "start_timeout_s": 0.5}
    result = run_module(health_probe, args)
    assert result["failed"] and "no answer within start_timeout_s=0.5s" in result["msg"]
    assert "more time (start_timeout_s)" in result["msg"] and result["failures"] == 0


@pytest.mark.parametrize(
    "node_name",
    ["app@h; halt()", "app @h", "'app'@h", "app@h\n-eval halt()", "a$(id)@h", "app@h`id`", "app@@h", "app@"],
    ids=["semicolon", "space", "quotes", "newline", "command substitution", "backquotes", "two @", "no host"],
)
@pytest.mark.parametrize("kind", ["beam", "http"])
def test_a_node_name_that_is_not_name_at_host_is_refused_before_any_connection(
    run_module, tmp_path, app_node, node_name, kind
):
    root = fake_release(tmp_path, ANSWER)
    args = {"kind": kind, "root": str(root), "name": "app", "node_name": node_name, "retries": 0}
    if kind == "http":
        args.update(url="http://127.0.0.1:1/health", release_version="1.0.0")
    result = run_module(health_probe, args)
    assert result["failed"] and result["msg"].startswith(f"Invalid node_name: node name {node_name!r} ")
    assert "is not name@host with letters, digits, '_' and '-'" in result["msg"]
    assert "give the node's full name with node_name. Nothing was probed." in result["msg"]
    assert not (tmp_path / "argv").exists() and app_node.requests == 0 and "attempts" not in result


def test_a_valid_node_name_is_used_as_given(run_module, tmp_path, app_node):
    root = fake_release(tmp_path, ANSWER)
    args = {"kind": "beam", "root": str(root), "name": "app", "node_name": "app@localhost"}
    result = run_module(health_probe, args)
    assert not result.get("failed"), result
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[3] == "-sname" and any("app@localhost" in a for a in argv)


def flooding(stop, conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"starting " * 8192)


@pytest.mark.parametrize(
    ("behave", "retries", "seen"),
    [
        # Ended by the cap at its first answer (no retry), not by the clock: a last attempt cut short by
        # timeout_s would say "no complete answer" on a loaded machine.
        (flooding, 0, r"HTTP 200 but the body \(its first 1024 KiB: the rest is not read\) does not match 'ready'"),
        # The last attempt gets what is left of timeout_s, at most attempt_timeout_s.
        (lambda stop, _conn: stop.wait(10), 10, r"no complete answer within 0\.\d{1,2}s \(attempt_timeout_s\)"),
    ],
    ids=["endless body", "no answer"],
)
def test_a_flooding_or_silent_server_ends_the_probe_within_its_timeout(run_module, raw_http, behave, retries, seen):
    url = raw_http(behave)
    started = time.monotonic()
    args = {"kind": "http", "url": url, "body_regex": "ready", "attempt_timeout_s": 0.5, "timeout_s": 1}
    result = run_module(health_probe, dict(args, interval_s=0.1, retries=retries))
    elapsed = time.monotonic() - started
    assert result["failed"] and elapsed < 1 + 1
    assert re.fullmatch(f"GET {re.escape(url)}: {seen}", result["last_error"])
    assert f"http probe of {url} failed" in result["msg"]
