# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hot_patch against a real erl node: a gen_server's module patched with its state changed and kept,
the OS pid kept, a crashing code_change undone, old code in use and another compiler refused with
nothing changed, a persisted patch surviving a restart and a plain one dropped by it."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import socket
import subprocess
import tarfile
import time

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _edp
from ansible_collections.beamops.deploy.plugins.module_utils._dist import epmd_names
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import Atom
from ansible_collections.beamops.deploy.plugins.module_utils._patch import beam_module
from ansible_collections.beamops.deploy.plugins.modules import hot_patch, release_info

pytestmark = pytest.mark.skipif(not (shutil.which("erl") and shutil.which("erlc")), reason="needs erl and erlc")

SHORT = socket.gethostname().split(".")[0]
COOKIE = "PATCHCOOKIE_51d2"

COUNTER = """
-module(counter).
-behaviour(gen_server).
-vsn("{vsn}").
-export([start/0, bump/0, get/0, version/0, init/1, handle_call/3, handle_cast/2, code_change/3]).
start() -> gen_server:start({{local, counter}}, counter, [], []).
bump() -> gen_server:call(counter, bump).
get() -> gen_server:call(counter, get).
version() -> {vsn}.
init([]) -> {{ok, 0}}.
handle_cast(_, S) -> {{noreply, S}}.
{body}
"""
# 1 knows nothing of 2: the patch's own code_change changes the state back on the way down.
V1 = """
handle_call(bump, _, N) -> {reply, N + 1, N + 1};
handle_call(get, _, N) -> {reply, N, N}.
code_change(_, S, _) -> {ok, S}.
"""
# 2: the state gains the Extra given, and goes back to a plain count on the way down (called before 1 is loaded).
V2 = """
handle_call(bump, _, {N, X}) -> {reply, N + 1, {N + 1, X}};
handle_call(get, _, S) -> {reply, S, S}.
code_change({down, _}, {N, _}, _) -> {ok, N};
code_change({down, _}, N, _) -> {ok, N};  % a state born under 2 (init is 1's), after a restart on a persisted 2
code_change("1", N, Extra) -> {ok, {N, Extra}}.
"""
# 3: a code_change that crashes.
V3 = """
handle_call(_, _, S) -> {reply, S, S}.
code_change(_, _, _) -> erlang:error(broken_patch).
"""
LOOPER = """
-module(looper).
-export([start/0, loop/0, version/0]).
start() -> register(looper, spawn(fun loop/0)), ok.
loop() -> receive _ -> loop() after 60000 -> loop() end.
version() -> {vsn}.
"""


def compile_module(tmp_path, name, source) -> str:
    out = tmp_path / "build" / f"{name}-{secrets.token_hex(2)}"
    out.mkdir(parents=True)
    src = out / f"{name}.erl"
    src.write_text(source)
    subprocess.run(["erlc", "-o", str(out), str(src)], check=True, capture_output=True)
    return str(out / f"{name}.beam")


class Lab:
    """A relx-like release tree whose lib/app-1.0.0/ebin holds counter 1 and looper 1, and its running node."""

    def __init__(self, tmp_path, monkeypatch):
        self.tmp = tmp_path
        self.port = _free_port()
        monkeypatch.setenv("ERL_EPMD_PORT", str(self.port))
        home = tmp_path / "home"
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))
        self.procs = [subprocess.Popen(["epmd", "-port", str(self.port)], stderr=subprocess.DEVNULL)]
        self.name = f"patch_ut_{secrets.token_hex(3)}"
        self.root = tmp_path / "rel"
        for folder in ("bin", "releases/1.0.0", "lib/app-1.0.0/ebin"):
            (self.root / folder).mkdir(parents=True)
        (self.root / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.0.0"\n')
        (self.root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
        (self.root / "releases" / "1.0.0" / "vm.args").write_text(f"-sname {self.name}\n-setcookie {COOKIE}\n")
        self.ebin = self.root / "lib" / "app-1.0.0" / "ebin"
        self.v1 = compile_module(tmp_path, "counter", COUNTER.format(vsn="1", body=V1))
        shutil.copy(self.v1, self.ebin / "counter.beam")
        shutil.copy(compile_module(tmp_path, "looper", LOOPER.format(vsn="1")), self.ebin / "looper.beam")
        self.node = None
        try:
            self.start()
        except BaseException:  # no node or epmd outlives a start that failed
            self.close()
            raise

    def start(self):
        if self.node is not None:
            self.node.kill()
            self.node.wait()
            self.wait_gone()
        argv = ["erl", "-noshell", "-noinput", "-sname", self.name, "-setcookie", COOKIE, "-pa", str(self.ebin)]
        argv += ["-eval", "{ok, _} = counter:start(), ok = looper:start()"]
        self.node = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.node)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                up = self.name in epmd_names("127.0.0.1", self.port, timeout=1)
                if up and self.call("erlang", "whereis", [Atom("counter")]) != Atom("undefined"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"erl node {self.name} did not start")

    def wait_gone(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.name in epmd_names("127.0.0.1", self.port, timeout=1):
            time.sleep(0.1)

    def call(self, mod, fun, args=()):
        port = epmd_names("127.0.0.1", self.port, timeout=1)[self.name]
        conn = _edp.Connection.connect(SHORT, port, f"{self.name}@{SHORT}", _edp.own_name(SHORT), COOKIE, 5.0)
        try:
            return conn.rpc(mod, fun, list(args), 5.0)
        finally:
            conn.close()

    def args(self, **extra):
        return {"name": "app", "root": str(self.root), **extra}

    def close(self):
        for proc in reversed(self.procs):
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    made = Lab(tmp_path, monkeypatch)
    yield made
    made.close()


def records(lab) -> list[dict]:
    base = lab.root / ".beamops" / "patches"
    if not base.is_dir():
        return []
    return [json.loads((base / n / "patch.json").read_text()) for n in sorted(os.listdir(base))]


def test_a_gen_server_is_patched_in_place_and_rolled_back(lab, tmp_path, run_module):
    for count in range(1, 4):
        assert lab.call("counter", "bump") == count
    pid = lab.call("erlang", "whereis", [Atom("counter")])
    os_pid = lab.call("os", "getpid")
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    disk = (lab.ebin / "counter.beam").read_bytes()

    result = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter", "extra": "{added, true}"}]))
    assert result["changed"] is True, result
    assert lab.call("counter", "version") == 2
    assert lab.call("counter", "get") == (3, (Atom("added"), Atom("true")))  # the state, changed by code_change
    assert lab.call("erlang", "whereis", [Atom("counter")]) == pid
    assert result["os_pid"] == os_pid == lab.call("os", "getpid")
    [mod] = result["modules"]
    assert mod["module"] == "counter" and mod["loaded"] and mod["md5_before"] != mod["md5_after"]
    assert result["processes"] == [{"name": "counter", "module": "counter", "result": "ok"}]
    assert result["survives_restart"] is False and result["persisted"] is False
    assert (lab.ebin / "counter.beam").read_bytes() == disk
    [record] = records(lab)
    assert record["state"] == "applied" and record["id"] == result["patch_id"]

    again = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))
    assert again["changed"] is False, again
    assert lab.call("counter", "get") == (3, (Atom("added"), Atom("true")))

    back = run_module(hot_patch, lab.args(state="rolled_back"))
    assert back["changed"] is True, back
    assert lab.call("counter", "version") == 1
    assert lab.call("counter", "get") == 3
    assert lab.call("erlang", "whereis", [Atom("counter")]) == pid
    assert [r["state"] for r in records(lab)] == ["rolled_back"]
    assert run_module(hot_patch, lab.args(state="rolled_back"))["changed"] is False


def test_a_crashing_code_change_is_undone_with_the_state_intact(lab, tmp_path, run_module):
    lab.call("counter", "bump")
    pid = lab.call("erlang", "whereis", [Atom("counter")])
    v3 = compile_module(tmp_path, "counter", COUNTER.format(vsn="3", body=V3))
    result = run_module(hot_patch, lab.args(beams=[v3], processes=[{"name": "counter"}]))
    assert result.get("failed") and result["restored"] is True, result
    assert "code_change of counter failed" in result["msg"] and "broken_patch" in result["msg"]
    assert lab.call("counter", "version") == 1
    assert lab.call("counter", "bump") == 2  # resumed, with the state it had
    assert lab.call("erlang", "whereis", [Atom("counter")]) == pid
    assert [r["state"] for r in records(lab)] == ["failed"]


def test_old_code_still_in_use_is_refused_with_nothing_changed(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "looper", LOOPER.format(vsn="2"))
    loop = lab.call("erlang", "whereis", [Atom("looper")])
    # looper 1 is old code now, still run by the loop
    assert lab.call("code", "load_abs", [v2[: -len(".beam")]]) == ("module", Atom("looper"))
    v3 = compile_module(tmp_path, "looper", LOOPER.format(vsn="3"))
    result = run_module(hot_patch, lab.args(beams=[v3]))
    assert result.get("failed"), result
    assert "old code of looper is still run by" in result["msg"] and result["patch_id"] == ""
    assert lab.call("looper", "version") == 2
    assert lab.call("erlang", "is_process_alive", [loop]) == Atom("true")
    assert records(lab) == []


def test_a_beam_of_another_compiler_series_is_refused(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    other = str(tmp_path / "other.beam")
    program = (
        f'{{ok, _, Chunks}} = beam_lib:all_chunks("{v2}"), '
        '{"CInf", CInf} = lists:keyfind("CInf", 1, Chunks), '
        'Info = lists:keystore(version, 1, binary_to_term(CInf), {version, "1.0.0"}), '
        '{ok, Bin} = beam_lib:build_module(lists:keystore("CInf", 1, Chunks, {"CInf", term_to_binary(Info)})), '
        f'ok = file:write_file("{other}", Bin), halt().'
    )
    subprocess.run(["erl", "-noshell", "-noinput", "-eval", program], check=True, capture_output=True, timeout=60)
    result = run_module(hot_patch, lab.args(beams=[other]))
    assert result.get("failed") and "compiled by compiler 1.0.0" in result["msg"], result
    assert lab.call("counter", "version") == 1
    loose = run_module(hot_patch, lab.args(beams=[other], check_compiler=False, processes=[{"name": "counter"}]))
    assert loose["changed"] is True, loose
    assert lab.call("counter", "version") == 2


def test_check_mode_reports_and_changes_nothing(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    result = run_module(hot_patch, lab.args(beams=[v2], _ansible_check_mode=True))
    assert result["changed"] is True and "would load counter" in result["message"], result
    assert lab.call("counter", "version") == 1
    assert records(lab) == []


def test_a_persisted_patch_survives_a_restart_and_a_plain_one_does_not(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    plain = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))
    assert plain["survives_restart"] is False, plain
    lab.start()
    assert lab.call("counter", "version") == 1

    kept = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}], persist=True))
    assert kept["persisted"] is True and kept["survives_restart"] is True, kept
    assert (lab.ebin / "counter.beam").read_bytes() == open(v2, "rb").read()
    history = json.loads((lab.root / ".beamops" / "history.json").read_text())
    assert history["events"][-1]["action"] == "patched"
    lab.start()
    assert lab.call("counter", "version") == 2

    # The rollback of a persisted patch puts the release's own file back.
    back = run_module(hot_patch, lab.args(state="rolled_back"))
    assert back.get("failed") is None and back["changed"] is True, back
    assert lab.call("counter", "version") == 1
    assert (lab.ebin / "counter.beam").read_bytes() == open(lab.v1, "rb").read()


def test_the_module_name_is_read_from_the_beam(tmp_path):
    beam = compile_module(tmp_path, "counter", COUNTER.format(vsn="1", body=V1))
    assert beam_module(open(beam, "rb").read()) == "counter"
    assert beam_module(gzip.compress(open(beam, "rb").read())) == "counter"  # as relx writes them
    with pytest.raises(ValueError, match="not a BEAM file"):
        beam_module(b"#!/bin/sh\necho hello\n")


def test_bad_input_is_refused_naming_the_option(lab, tmp_path, run_module):
    text = tmp_path / "notes.txt"
    text.write_text("not a beam")
    result = run_module(hot_patch, lab.args(beams=[str(text)]))
    assert result.get("failed") and "beams:" in result["msg"] and "compiled module" in result["msg"], result
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    result = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "nobody"}]))
    assert result.get("failed") and "no process is registered as nobody" in result["msg"], result
    result = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter", "extra": "{unclosed"}]))
    assert result.get("failed") and "extra of counter is not an Erlang term" in result["msg"], result
    assert lab.call("counter", "version") == 1
    assert records(lab) == []


def test_a_rebuilt_tarball_patches_only_the_modules_it_changed(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    rebuild = tmp_path / "app-1.0.0.tar.gz"
    with tarfile.open(rebuild, "w:gz") as archive:
        archive.add(str(lab.root / "bin" / "app"), "bin/app")
        archive.add(v2, "lib/app-1.0.0/ebin/counter.beam")
        archive.add(str(lab.ebin / "looper.beam"), "lib/app-1.0.0/ebin/looper.beam")  # unchanged: not loaded
    result = run_module(hot_patch, lab.args(tarball=str(rebuild), processes=[{"name": "counter"}]))
    assert result["changed"] is True, result
    assert [m["module"] for m in result["modules"]] == ["counter"]
    assert lab.call("counter", "version") == 2 and lab.call("looper", "version") == 1
    again = run_module(hot_patch, lab.args(tarball=str(rebuild)))
    assert again["changed"] is False, again


def test_release_info_names_the_modules_a_patch_changed(lab, tmp_path, run_module):
    args = {"name": "app", "root": str(lab.root), "patched_modules": True}
    assert run_module(release_info, args)["patched_modules"] == []
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    patch_id = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))["patch_id"]
    info = run_module(release_info, args)
    [changed] = info["patched_modules"]
    assert changed["module"] == "counter" and changed["md5_loaded"] != changed["md5_file"], info
    assert changed["file"] == str(lab.ebin / "counter.beam")
    assert info["patches"] == [{"id": patch_id, "state": "applied", "persisted": False, "modules": ["counter"]}]


def test_persisting_a_loaded_patch_and_its_rollback_touch_the_files_only(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))
    kept = run_module(hot_patch, lab.args(beams=[v2], persist=True))
    assert kept["changed"] is True and [m["loaded"] for m in kept["modules"]] == [False], kept
    assert (lab.ebin / "counter.beam").read_bytes() == open(v2, "rb").read()
    back = run_module(hot_patch, lab.args(state="rolled_back"))
    assert back["changed"] is True and not back.get("failed"), back
    assert lab.call("counter", "version") == 2  # the code the node ran before this record stays
    assert (lab.ebin / "counter.beam").read_bytes() == open(lab.v1, "rb").read()


def test_a_patch_a_restart_dropped_is_marked_dropped_by_the_next_run(lab, tmp_path, run_module):
    v2 = compile_module(tmp_path, "counter", COUNTER.format(vsn="2", body=V2))
    first = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))["patch_id"]
    lab.start()  # the plain patch is gone with the VM
    second = run_module(hot_patch, lab.args(beams=[v2], processes=[{"name": "counter"}]))["patch_id"]
    assert {r["id"]: r["state"] for r in records(lab)} == {first: "dropped", second: "applied"}
    back = run_module(hot_patch, lab.args(state="rolled_back"))
    assert back["patch_id"] == second and lab.call("counter", "version") == 1, back
    assert not [r for r in records(lab) if r["state"] == "applied"]
