# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""release_info and hot_upgrade through main(): the node's cookie source and, when it cannot be
reached, why; no ~/.erlang.cookie is ever written; hot_upgrade's failure names the reason."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from ansible_collections.beamops.deploy.plugins.modules import hot_upgrade, release_info

SHORT = socket.gethostname().split(".")[0]
MIX_COOKIE = "MIXRELEASECOOKIE_5d1e"
STATUS = (
    "{beamops_reached,1,{beamops_status,'stockex@" + SHORT + "',["  # the name it was reached by
    '{"stockex","0.1.0",[],permanent}],<0.42.0>,"4242",'
    '[{stockex,"d","0.1.0"},{logger,"d","1.15"},{elixir,"d","1.15"},{kernel,"d","8.5.3"}],"/opt/stockex",'
    '{"stockex","0.1.0"}}}'
)


def mix_release(tmp_path, answer=STATUS):
    """A stock mix release (releases/COOKIE, env.sh all comments) whose erts erl prints `answer`."""
    root = tmp_path / "stockex"
    for folder in ("bin", "releases/0.1.0", "erts-13.1.5/bin"):
        (root / folder).mkdir(parents=True)
    (root / "bin" / "stockex").write_text('#!/bin/sh\nRELEASE_VSN="${RELEASE_VSN:-"$(cut -d\' \' -f2 x)"}"\n')
    (root / "releases" / "start_erl.data").write_text("13.1.5 0.1.0")
    (root / "releases" / "COOKIE").write_text(MIX_COOKIE)
    (root / "releases" / "0.1.0" / "env.sh").write_text("#!/bin/sh\n# export RELEASE_NODE=stockex\n")
    (root / "releases" / "0.1.0" / "vm.args").write_text("## -mode/-name/-sname/-setcookie via env vars\n")
    erl = root / "erts-13.1.5" / "bin" / "erl"
    erl.write_text(f"#!/bin/sh\ncat <<'EOF'\nBEAMOPS-RESULT\n{answer}.\nEOF\n")
    erl.chmod(erl.stat().st_mode | stat.S_IXUSR)
    return root


def test_release_info_reaches_a_stock_mix_release_with_its_cookie(run_module, tmp_path, monkeypatch, fake_epmd):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    fake_epmd({"stockex": 40001})
    root = mix_release(tmp_path)
    result = run_module(release_info, {"name": "stockex", "root": str(root)})
    node = result["node"]
    assert node["up"] and node["name"] == f"stockex@{SHORT}" and node["running_version"] == "0.1.0"
    assert node["cookie_source"] == "release_cookie_file" and node["unreachable_reason"] is None
    assert result["current"] == "0.1.0" and MIX_COOKIE not in json.dumps(result)
    assert list(home.iterdir()) == []  # no ~/.erlang.cookie created


def test_release_info_says_why_a_node_is_unreachable(run_module, tmp_path, monkeypatch, fake_epmd):
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_epmd({"otherapp": 40001})
    result = run_module(release_info, {"name": "stockex", "root": str(mix_release(tmp_path))})
    assert result["node"]["up"] is False and result["node"]["cookie_source"] is None
    assert "has no node named stockex (it has: otherapp)" in result["node"]["unreachable_reason"]
    assert not (tmp_path / ".erlang.cookie").exists()


def test_release_info_refuses_an_unusable_node_name(run_module, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    root = mix_release(tmp_path)
    result = run_module(release_info, {"name": "stockex", "root": str(root), "node_name": "x@h'),halt(),('"})
    assert result["failed"] and "is not name@host" in result["msg"] and "node_name" in result["msg"]


def test_hot_upgrade_failure_names_node_and_cookie_sources(run_module, tmp_path, monkeypatch, fake_epmd):
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_epmd({"stockex": 40001})
    root = mix_release(tmp_path, answer="beamops_nodedown")
    result = run_module(hot_upgrade, {"name": "stockex", "root": str(root), "version": "0.2.0"})
    assert result["failed"] and result["cookie_source"] is None
    assert f"node stockex@{SHORT} cannot be reached, and a hot upgrade needs the running node" in result["msg"]
    assert (
        f"refused every cookie tried ({root}/releases/COOKIE; {tmp_path}/.erlang.cookie does not exist)"
        in (result["msg"])
    )
    assert MIX_COOKIE not in json.dumps(result) and not (tmp_path / ".erlang.cookie").exists()


def test_a_node_without_release_handler_is_read_from_its_boot_script_without_a_permanence_warning(
    run_module, tmp_path, monkeypatch, fake_epmd
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    fake_epmd({"stockex": 40001})
    no_sasl = (
        "{beamops_reached,1,{beamops_status,'stockex@" + SHORT + "',{badrpc,{'EXIT',noproc}},<0.42.0>,\"4242\","
        '[{stockex,"d","0.1.0"},{kernel,"d","8.5.3"}],"/opt/stockex",{"stockex","0.1.0"}}}'
    )
    result = run_module(release_info, {"name": "stockex", "root": str(mix_release(tmp_path, no_sasl))})
    node = result["node"]
    assert node["up"] and node["running_version"] == "0.1.0" and node["permanent_version"] is None
    assert "release_handler" in node["rpc_errors"]
    assert "not yet permanent" not in result["warnings_text"], result["warnings_text"]


def test_release_info_plans_a_rollback_with_rollback_of(run_module, tmp_path, monkeypatch, fake_epmd):
    monkeypatch.setenv("HOME", str(tmp_path))
    fake_epmd({"stockex": 40001})
    root = mix_release(tmp_path)
    (root / ".beamops").mkdir()
    (root / ".beamops" / "history.json").write_text(json.dumps({"format": 1, "previous": "0.0.9", "versions": {}}))
    plain = run_module(release_info, {"name": "stockex", "root": str(root)})
    assert "rollback_plan" not in plain
    result = run_module(release_info, {"name": "stockex", "root": str(root), "rollback_of": "0.1.0"})
    plan = result["rollback_plan"]
    assert (plan["action"], plan["method"], plan["target"], plan["source"]) == (
        "rollback",
        "cold",
        "0.0.9",
        "the node's history",
    )
    # 0.0.9 is not unpacked: refused, naming the fix; rollback_to names another version.
    assert "0.0.9 is not unpacked" in plan["problem"]
    left = run_module(release_info, {"name": "stockex", "root": str(root), "rollback_of": "2.0.0"})
    assert left["rollback_plan"]["action"] == "leave" and not left["rollback_plan"]["knows_bad"]


def test_a_node_an_interrupted_run_left_starting_is_waited_for(run_module, tmp_path, monkeypatch, real_node):
    """A killed run's restart goes on without it: with the run's drain mark there, release_info waits for the
    node (interrupted_wait_s) rather than calling it stopped; without a mark it answers at once."""
    if not shutil.which("erl"):
        pytest.skip("needs erl")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    name = f"late_{os.getpid()}"
    root = tmp_path / "rel"
    for folder in ("bin", "releases/1.0.0", ".beamops"):
        (root / folder).mkdir(parents=True)
    (root / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.0.0"\n')
    (root / "releases" / "start_erl.data").write_text("13.1.5 1.0.0\n")
    (root / "releases" / "1.0.0" / "vm.args").write_text(f"-sname {name}\n-setcookie LATECOOKIE\n")
    args = {"name": "app", "root": str(root), "interrupted_wait_s": 30, "timeout_s": 5}
    assert run_module(release_info, args)["node"]["up"] is False  # no mark: not waited for

    (root / ".beamops" / "drained.json").write_text('{"server": "web1", "load_balancers": ["lb"], "backends": ["b"]}')
    late = subprocess.Popen(
        ["sh", "-c", f"sleep 3; exec erl -noshell -noinput -boot start_sasl -sname {name} -setcookie LATECOOKIE"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        result = run_module(release_info, args)
        assert result["node"]["up"] is True, result
        assert time.monotonic() - started >= 2.5
    finally:
        late.kill()
        late.wait()
