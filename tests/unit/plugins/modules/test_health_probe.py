# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_probe end to end: a flapping HTTP service fails the probe; a stand-in for the release's erl
shows what the module runs, and that the cookie is neither in its arguments nor in the results."""

from __future__ import annotations

import json
import stat

from ansible_collections.beamops.deploy.plugins.modules import health_probe

COOKIE = "SECRETCOOKIEVALUEFORTESTS"


def test_flapping_service_fails_with_attempts_and_last_error(run_module, http_server):
    url = http_server()
    args = {"kind": "http", "url": url, "successes": 3, "retries": 3, "interval": 0.01, "_ansible_check_mode": True}
    result = run_module(health_probe, args)
    assert result["failed"] and not result["changed"]
    assert result["attempts"] == 8 and result["failures"] == 4 and result["successes"] == 0
    assert "HTTP 500" in result["last_error"] and "0 consecutive successes of 3" in result["msg"]


def test_steady_service_passes_in_check_mode_too(run_module, http_server):
    url = http_server(fixed=200)
    args = {"kind": "http", "url": url, "successes": 2, "interval": 0.01, "_ansible_check_mode": True}
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
{beamops_reached,1,{beamops_probe,'app@h',[{"app","1.0.0",[],permanent}],{"app","1.0.0"},
 [{app,"d","1.0.0"},{kernel,"d","8.5.3"}]}}.
"""


def test_beam_probe_asks_the_node_without_the_cookie_in_arguments(run_module, tmp_path, monkeypatch, fake_epmd):
    fake_epmd({"app": 40001})
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".erlang.cookie").write_text(COOKIE)
    root = fake_release(tmp_path, ANSWER)
    args = {"kind": "beam", "release_root": str(root), "release_name": "app", "release_version": "1.0.0"}
    result = run_module(health_probe, dict(args, applications=["app"]))
    assert result["details"]["release_version"] == "1.0.0" and result["details"]["node"] == "app@h"
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:4] == ["-noshell", "-noinput", "-hidden", "-sname"]
    assert "-setcookie" not in argv and COOKIE not in "".join(argv)
    assert any("which_releases" in a for a in argv)


def test_beam_probe_masks_a_cookie_the_node_side_prints(run_module, tmp_path, monkeypatch, fake_epmd):
    fake_epmd({"app": 40001})
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".erlang.cookie").write_text(COOKIE)
    root = fake_release(tmp_path, f"Connecting with cookie {COOKIE} failed", rc=1)
    args = {"kind": "beam", "release_root": str(root), "release_name": "app", "retries": 0}
    result = run_module(health_probe, args)
    assert result["failed"] and "could not reach node app@" in result["last_error"]
    assert COOKIE not in json.dumps(result)


def test_beam_probe_names_a_missing_release(run_module, tmp_path):
    result = run_module(health_probe, {"kind": "beam", "release_root": str(tmp_path), "release_name": "nope"})
    assert result["failed"] and f"Release nope not found on this host: no {tmp_path}/bin/nope" in result["msg"]
