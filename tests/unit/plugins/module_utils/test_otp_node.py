# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_otp.Node: how the hidden control node gets the cookies (a private HOME, never the user's
~/.erlang.cookie, never argv or environment), why an unreachable node is unreachable, and a real
erl run proving that no ~/.erlang.cookie appears."""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import subprocess
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._otp import NODEDOWN, Node, ReleaseRoot

SHORT = socket.gethostname().split(".")[0]
VM_COOKIE = "VMARGSCOOKIE_7f3a"
USER_COOKIE = "USERCOOKIE_91bc"


class FakeModule:
    """run_command like AnsibleModule's: an argument list, environ_update merged into the environment."""

    def __init__(self):
        self.no_log_values: set[str] = set()
        self.calls: list[list[str]] = []

    def run_command(self, argv, environ_update=None):
        self.calls.append(argv)
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def release(tmp_path, vm_args=f"-sname app\n-setcookie {VM_COOKIE}\n", answer=None):
    """A relx release whose erts erl records what it was given and prints `answer`."""
    root = tmp_path / "rel"
    for folder in ("bin", "releases/1.0.0", "erts-13.1.5/bin"):
        (root / folder).mkdir(parents=True)
    (root / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.0.0"\n')
    (root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    (root / "releases" / "1.0.0" / "vm.args").write_text(vm_args)
    seen = tmp_path / "seen"
    seen.mkdir()
    erl = root / "erts-13.1.5" / "bin" / "erl"
    erl.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {seen}/argv\n'
        f"env > {seen}/env\n"
        f'echo "$HOME" > {seen}/home\n'
        f'stat -c "%a %n" "$HOME" "$HOME"/.erlang.cookie "$HOME"/cookies.eterm > {seen}/modes\n'
        f'cat "$HOME"/cookies.eterm > {seen}/cookies\n'
        f'cat "$HOME"/.erlang.cookie > {seen}/own_cookie\n'
        f"cat <<'EOF'\nBEAMOPS-RESULT\n{answer or NODEDOWN}.\nEOF\n"
    )
    erl.chmod(erl.stat().st_mode | stat.S_IXUSR)
    return ReleaseRoot(str(root), "app"), seen


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty HOME for the task's user."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def test_cookies_reach_the_control_node_only_through_a_private_home(tmp_path, home, fake_epmd):
    fake_epmd({"app": 40001})
    (home / ".erlang.cookie").write_text(USER_COOKIE)
    rel, seen = release(tmp_path, answer="{beamops_reached,2,hello}")
    module = FakeModule()
    node = Node(module, rel, timeout=5)
    assert node.call("hello") == "hello"
    # The node accepted the second cookie tried: ~/.erlang.cookie, after the vm.args one.
    assert node.cookie_source == "user_cookie_file" and node.cookies[0].source == "user_cookie_file"
    ctl_home = (seen / "home").read_text().strip()
    assert ctl_home != str(home) and not os.path.exists(ctl_home)  # private, and removed afterwards
    modes = dict(reversed(line.split(" ", 1)) for line in (seen / "modes").read_text().splitlines())
    assert modes == {ctl_home: "700", f"{ctl_home}/.erlang.cookie": "400", f"{ctl_home}/cookies.eterm": "600"}
    assert (seen / "cookies").read_text() == f"['{VM_COOKIE}', '{USER_COOKIE}'].\n"
    assert VM_COOKIE not in (seen / "own_cookie").read_text() and USER_COOKIE not in (seen / "own_cookie").read_text()
    for where in ("argv", "env"):
        text = (seen / where).read_text()
        assert VM_COOKIE not in text and USER_COOKIE not in text
    argv = (seen / "argv").read_text().splitlines()
    assert argv[:6] == ["-noshell", "-noinput", "-hidden", "-sname", argv[4], "-start_epmd"]
    assert argv[4].endswith(f"@{SHORT}") and f"Node = 'app@{SHORT}'" in argv[-1]
    assert module.no_log_values == {VM_COOKIE, USER_COOKIE}
    assert [p.name for p in home.iterdir()] == [".erlang.cookie"] and (
        home / ".erlang.cookie"
    ).read_text() == USER_COOKIE


def test_refused_cookies_are_named_by_source_never_by_value(tmp_path, home, fake_epmd):
    fake_epmd({"app": 40001})
    (home / ".erlang.cookie").write_text(USER_COOKIE)
    rel, _seen = release(tmp_path)
    node = Node(FakeModule(), rel, timeout=5)
    state = node.status()
    assert state["up"] is False and state["cookie_source"] is None
    reason = state["unreachable_reason"]
    assert f"node app@{SHORT} is known to epmd but refused every cookie tried" in reason
    assert f"-setcookie in {rel.path}/releases/1.0.0/vm.args, {home}/.erlang.cookie" in reason
    assert VM_COOKIE not in reason and USER_COOKIE not in reason


def test_epmd_silent_or_without_the_name_stops_before_any_erl(tmp_path, home, fake_epmd, monkeypatch, unused_port):
    rel, seen = release(tmp_path)
    server = fake_epmd({"other": 40002})
    module = FakeModule()
    state = Node(module, rel, timeout=5).status()
    assert not state["up"] and module.calls == [] and server.requests == 1
    assert state["unreachable_reason"] == (
        f"node app@{SHORT}: epmd at {SHORT}:{server.server_address[1]} answers but has no node named app "
        "(it has: other): the node is not running, or runs under another name (give it with node_name)"
    )
    monkeypatch.setenv("ERL_EPMD_PORT", str(unused_port))  # nothing listens there
    state = Node(module, rel, timeout=5).status()
    assert module.calls == [] and "does not answer" in state["unreachable_reason"]
    assert "no node with distribution runs on" in state["unreachable_reason"]
    assert not (seen / "argv").exists()


def test_a_silent_epmd_port_is_reported_as_such_naming_the_option(tmp_path, home, monkeypatch):
    """Something listens on the epmd port but never answers: the reason says so and names the module
    option the wait came from; it does not claim that no node runs."""
    rel, seen = release(tmp_path)
    with socket.socket() as listener:
        listener.bind(("", 0))
        listener.listen(4)  # connections complete in the kernel; nothing is ever sent back
        monkeypatch.setenv("ERL_EPMD_PORT", str(listener.getsockname()[1]))
        module = FakeModule()
        state = Node(module, rel, timeout=1, timeout_option="attempt_timeout_s").status()
    reason = state["unreachable_reason"]
    assert not state["up"] and module.calls == []
    assert "did not answer in full within 1 s (from attempt_timeout_s)" in reason
    assert reason.endswith("whether the node runs is not known")
    assert "no node with distribution runs" not in reason
    assert not (seen / "argv").exists()


def test_no_cookie_found_says_where_it_looked(tmp_path, home, fake_epmd):
    fake_epmd({"app": 40001})
    rel, _seen = release(tmp_path, vm_args="-sname app\n")
    module = FakeModule()
    state = Node(module, rel, timeout=5).status()
    assert module.calls == [] and list(home.iterdir()) == []
    assert state["unreachable_reason"] == (
        f"node app@{SHORT} runs, but no cookie was found to reach it (none; {home}/.erlang.cookie does not "
        "exist): give the node's cookie with cookie_file or cookie"
    )


def test_a_node_without_epmd_gets_its_dist_flags_and_no_epmd_check(tmp_path, home):
    rel, seen = release(tmp_path, vm_args=f"-sname app\n-setcookie {VM_COOKIE}\n-erl_epmd_port 4370\n")
    assert Node(FakeModule(), rel, timeout=5).call("x") == NODEDOWN
    argv = (seen / "argv").read_text().splitlines()
    assert argv[5:7] == ["-erl_epmd_port", "4370"] and "-start_epmd" not in argv


def test_given_node_name_and_cookie_option(tmp_path, home, fake_epmd):
    fake_epmd({"web": 40001})
    rel, seen = release(tmp_path, answer="{beamops_reached,1,ok}")
    node = Node(FakeModule(), rel, timeout=5, cookie="it's", node_name="web@127.0.0.1")
    assert node.call("ok") == "ok" and node.cookie_source == "cookie"
    argv = (seen / "argv").read_text().splitlines()
    assert argv[3] == "-name" and argv[4].endswith("@127.0.0.1")
    assert (seen / "cookies").read_text() == "['it\\x{27}s'].\n"


# --- a real erl (fixture real_node): no ~/.erlang.cookie appears; the same answers over this process's
# own connection (native) and from a control VM ---------------------------------------------------------

VIA = pytest.mark.parametrize("via", ["native", "control_vm"])


def make_node(module, rel, via, **kwargs):
    node = Node(module, rel, **kwargs)
    node.native_off = via == "control_vm"
    return node


def plain_release(tmp_path, vm_args):
    root = tmp_path / "rel"
    (root / "bin").mkdir(parents=True)
    (root / "releases" / "1.0.0").mkdir(parents=True)
    (root / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.0.0"\n')
    (root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    (root / "releases" / "1.0.0" / "vm.args").write_text(vm_args)
    return ReleaseRoot(str(root), "app")


@VIA
def test_real_erl_reaches_a_node_with_the_release_cookie_and_writes_no_cookie_file(tmp_path, home, real_node, via):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    module = FakeModule()
    node = make_node(module, rel, via, timeout=20)
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}"
    assert node.cookie_source == "vm_args"
    assert list(home.iterdir()) == []  # the task user's HOME is untouched: no ~/.erlang.cookie
    assert len(module.calls) == (0 if via == "native" else 1)


@VIA
def test_real_erl_with_the_user_cookie_leaves_it_as_it_was(tmp_path, home, real_node, via):
    (home / ".erlang.cookie").write_text("USER_" + secrets.token_hex(8))
    (home / ".erlang.cookie").chmod(0o400)
    before = (home / ".erlang.cookie").stat()
    name = real_node([], home)  # the node reads the same ~/.erlang.cookie
    # vm.args names a cookie the node refuses: the next source is tried, natively too.
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie WRONG_{secrets.token_hex(4)}\n")
    node = make_node(FakeModule(), rel, via, timeout=20)
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}"
    assert node.cookie_source == "user_cookie_file"
    after = (home / ".erlang.cookie").stat()
    assert (after.st_mtime_ns, after.st_size, after.st_mode) == (before.st_mtime_ns, before.st_size, before.st_mode)
    assert [p.name for p in home.iterdir()] == [".erlang.cookie"]


@VIA
def test_real_erl_steps_stop_at_the_first_refusal_and_read_the_status_after_a_chain_that_passed(
    tmp_path, home, real_node, via
):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie, "-boot", "start_sasl"], tmp_path)  # sasl: release_handler runs
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    module = FakeModule()
    node = make_node(module, rel, via, timeout=20)
    made, status = node.steps(
        "application",
        [("ensure_all_started", "[crypto]"), ("ensure_all_started", "[beamops_no_such_app]"), ("start", "[crypto]")],
    )
    assert made[0][0][0] == "ok" and isinstance(made[0][1], int)
    assert made[1][0][0] == "error"
    assert made[2] is None  # not made after a refusal
    assert status is None
    made, status = node.steps("application", [("ensure_all_started", "[crypto]")])
    assert made[0][0][0] == "ok"
    assert status["up"] and status["os_pid"] and status["releases"]
    assert status["running_version"] == status["permanent_version"]
    # Each call is its own question (a node that goes away in one leaves it answered, the rest not made):
    # a control VM for each (2 calls, then 1 call and the status), none over the process's own connection.
    assert len(module.calls) == (0 if via == "native" else 4)


@VIA
def test_real_erl_steps_a_node_that_goes_away_mid_chain_answers_that_call_nodedown(tmp_path, home, real_node, via):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    node = make_node(FakeModule(), rel, via, timeout=20)
    # As install_release does when it restarts the node: the call in flight is answered nodedown (then
    # hot_upgrade waits for the node and says what it runs), the later ones are not made.
    made, status = node.steps("erlang", [("halt", "[]"), ("node", "[]")])
    assert made[0][0] == ("badrpc", "nodedown") and made[1] is None and status is None


@VIA
def test_real_erl_status_then_calls_only_when_the_release_has_the_status_asked(tmp_path, home, real_node, via):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie, "-boot", "start_sasl"], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    module = FakeModule()
    node = make_node(module, rel, via, timeout=20)
    version = node.status()["permanent_version"]
    status, result = node.status_then(version, "permanent", "erlang", "node", "[]")
    assert result == f"{name}@{SHORT}" and status["permanent_version"] == version
    status, result = node.status_then(version, "current", "erlang", "halt", "[]")  # not current: not called
    assert result is None and status["up"]
    assert node.status()["up"]  # still running: halt was not called
    assert len(module.calls) == (0 if via == "native" else 4)


def test_real_erl_both_ways_read_the_same_status_and_see_a_node_go_away_alike(tmp_path, home, real_node):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie, "-boot", "start_sasl"], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    module = FakeModule()
    native, control = make_node(module, rel, "native", timeout=20), make_node(module, rel, "control_vm", timeout=20)
    # epmd knows the node before sasl has started release_handler: on a loaded machine the first reads
    # come in between. Both ways are compared once the node is whole.
    deadline = time.monotonic() + 20
    while native.status()["rpc_errors"] and time.monotonic() < deadline:
        time.sleep(0.2)
    by_native, by_control = native.status(), control.status()
    assert by_native["up"] and re.fullmatch(rf"{by_native['os_pid']}/<0\.\d+\.\d+>", by_native["restart_marker"])
    assert by_native == by_control and len(module.calls) == 1  # the marker too: <0.N.S> either way
    answer, elapsed = native.rpc("erlang", "halt", "[]")  # the node is gone before it answers
    assert answer == ("badrpc", "nodedown") and elapsed >= 0
    state = native.status()
    assert not state["up"] and "no node named" in state["unreachable_reason"]


def test_real_erl_a_connection_left_idle_is_made_again_before_the_next_question(tmp_path, home, real_node):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    node = make_node(FakeModule(), rel, "native", timeout=20)
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}"
    first = node.native
    first.last -= 60  # as if a minute passed without a tick: the node may have dropped it
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}"
    assert node.native is not first and node.native is not None


def test_real_erl_a_connection_found_dead_is_made_again_and_the_question_asked_once(tmp_path, home, real_node):
    cookie = "REAL_" + secrets.token_hex(8)
    name = real_node(["-setcookie", cookie], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie {cookie}\n")
    module = FakeModule()
    node = make_node(module, rel, "native", timeout=20)
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}"
    node.native.sock.close()  # as a node that dropped the connection: found while the question is read
    assert node.call("rpc:call(Node, erlang, node, [])") == f"{name}@{SHORT}" and node.lost is None
    assert module.calls == []


def test_real_erl_every_cookie_refused_over_the_own_connection_is_said_without_a_control_vm(tmp_path, home, real_node):
    name = real_node(["-setcookie", "REAL_" + secrets.token_hex(8)], tmp_path)
    rel = plain_release(tmp_path, f"-sname {name}\n-setcookie WRONG_{secrets.token_hex(4)}\n")
    module = FakeModule()
    state = make_node(module, rel, "native", timeout=20).status()
    assert not state["up"] and module.calls == []
    assert "is known to epmd but refused every cookie tried (-setcookie in" in state["unreachable_reason"]
