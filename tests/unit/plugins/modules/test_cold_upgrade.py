# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cold_upgrade on a temporary root: the order of its steps, what it reports, and each refusal.

systemctl is a script on PATH that logs its arguments (and fails or hangs when told), the probed
service a local HTTP server; the node's own answer is a fake of beam_check. The real thing (systemd,
a real release, a real node) is the rolling scenario's, which deploys through this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.beamops.deploy.plugins.module_utils._probe import ProbeFailure
from ansible_collections.beamops.deploy.plugins.modules import cold_upgrade, release


class Box:
    def __init__(self, tmp_path, capsys, build, serve_http, monkeypatch):
        self.tmp = tmp_path
        self.capsys = capsys
        self.root = tmp_path / "opt" / "app"
        self.root.mkdir(parents=True)
        self.log = tmp_path / "systemctl.log"
        self.running = {"version": "1.0.0"}
        self.status = 200
        bindir = tmp_path / "bin"
        bindir.mkdir()
        script = bindir / "systemctl"
        # Logs "verb unit"; fails with FAIL_<VERB> set, sleeps with SLEEP_<VERB> set.
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$1 $2" >> {self.log}\n'
            'verb=$(echo "$1" | tr a-z A-Z)\n'
            'eval "sleep_s=\\${SLEEP_$verb:-}"; [ -n "$sleep_s" ] && sleep "$sleep_s"\n'
            'eval "fail=\\${FAIL_$verb:-}"; [ -n "$fail" ] && { echo "Job for $2 failed." >&2; exit 1; }\n'
            "exit 0\n"
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        self.url = serve_http(lambda handler: (self.status, b'{"ok": true}', {})) + "/health"

        def fake_beam_check(node, timeout, version, applications):
            details = {"node": "app@host", "release_version": self.running["version"], "permanent_version": None}
            if version and self.running["version"] != version:
                raise ProbeFailure(f"node app@host runs release {self.running['version']}, expected {version}", details)
            return details

        monkeypatch.setattr(cold_upgrade, "beam_check", fake_beam_check)
        monkeypatch.setattr(cold_upgrade.ColdUpgrade, "node", lambda self: None)
        for version in ("1.0.0", "1.1.0"):
            tarball = build(tmp_path / f"app-{version}.tar.gz", version=version)
            upload = tmp_path / "upload.tar.gz"
            shutil.copy(tarball, upload)
            checksum = hashlib.sha256(upload.read_bytes()).hexdigest()
            params = {"name": "app", "version": version, "root": str(self.root), "src": str(upload)}
            params.update(checksum=checksum, state="current" if version == "1.0.0" else "present")
            with patch_module_args(params), pytest.raises(SystemExit):
                release.main()
            assert json.loads(capsys.readouterr().out)["changed"]

    def run(self, check=False, **args):
        probe = {"url": self.url, "successes": 2, "interval_s": 0.01, **args.pop("probe", {})}
        params = {
            "name": "app",
            "version": "1.1.0",
            "root": str(self.root),
            "service_name": "app.service",
            "probe": probe,
            "start_timeout_s": 5,
            **args,
        }
        params.update(_ansible_check_mode=check, _ansible_diff=True)
        with patch_module_args(params), pytest.raises(SystemExit):
            cold_upgrade.main()
        return json.loads(self.capsys.readouterr().out)

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def current(self):
        return os.readlink(self.root / "current")


@pytest.fixture
def box(tmp_path, capsys, release_tarball, serve_http, monkeypatch):
    return Box(tmp_path, capsys, release_tarball, serve_http, monkeypatch)


def test_switches_restarts_probes_and_asks_the_node_in_that_order(box, monkeypatch):
    box.running["version"] = "1.1.0"  # what the restarted node will say
    out = box.run()
    assert not out.get("failed"), out
    assert box.calls() == ["stop app.service", "start app.service"]
    assert box.current() == "releases/1.1.0"
    assert out["changed"] and out["switched"] and out["restarted"]
    assert out["current"] == "1.1.0" and out["previous"] == "1.0.0"
    assert set(out["seconds"]) == {"switch", "restart", "probe"}
    assert out["probe"]["successes"] == 2 and out["release"]["release_version"] == "1.1.0"
    history = json.loads((box.root / ".beamops" / "history.json").read_text())
    assert history["previous"] == "1.0.0"


def test_a_node_that_runs_the_version_already_is_only_probed(box):
    box.run()
    box.log.unlink()
    box.running["version"] = "1.1.0"
    out = box.run()
    assert not out.get("failed"), out
    assert not out["changed"] and not out["switched"] and not out["restarted"]
    assert box.calls() == []
    assert out["probe"]["successes"] == 2


def test_current_but_not_running_is_restarted(box):
    box.running["version"] = "1.1.0"
    box.run()
    box.log.unlink()
    box.running["version"] = "1.0.0"  # a node restarted onto something else; the restart brings 1.1.0
    calls = []
    original = cold_upgrade.ColdUpgrade.restart

    def restart(self):
        original(self)
        box.running["version"] = "1.1.0"
        calls.append(True)

    cold_upgrade.ColdUpgrade.restart = restart
    try:
        out = box.run()
    finally:
        cold_upgrade.ColdUpgrade.restart = original
    assert not out.get("failed"), out
    assert out["changed"] and out["restarted"] and not out["switched"] and calls


def test_check_mode_says_what_would_happen_and_changes_nothing(box):
    out = box.run(check=True)
    assert out["changed"] and out["switched"] and out["restarted"]
    assert box.calls() == [] and box.current() == "releases/1.0.0"
    assert "probe" not in out
    assert out["diff"]["after"]["current"] == "1.1.0"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"version": "1.2.0"}, "is not unpacked under"),
        ({"version": "../1.1.0"}, "Invalid version"),
        ({"service_name": "app; reboot"}, "Invalid service_name"),
        ({"stop_timeout_s": 0}, "stop_timeout_s and start_timeout_s must be above 0"),
        ({"probe": {"successes": 0}}, "probe.successes must be at least 1"),
        ({"probe": {"url": "file:///etc/passwd"}}, "Invalid probe.url"),
        ({"probe": {"body_regex": "("}}, "Invalid probe.body_regex"),
        ({"node_name": "no at sign"}, "Invalid node_name"),
    ],
)
def test_bad_input_is_refused_before_any_change(box, args, expected):
    out = box.run(**args)
    assert out["failed"] and expected in out["msg"], out["msg"]
    assert "Nothing was changed" in out["msg"]
    assert not out.get("changed")
    assert box.calls() == [] and box.current() == "releases/1.0.0"


def test_a_failed_start_says_where_current_points(box, monkeypatch):
    monkeypatch.setenv("FAIL_START", "1")
    out = box.run()
    assert out["failed"] and out["changed"]
    assert box.calls() == ["stop app.service", "start app.service"]
    assert "systemctl start app.service failed (exit 1): Job for app.service failed." in out["msg"]
    assert "current points at 1.1.0 (switched from 1.0.0)" in out["msg"]
    assert "probe" not in out


def test_a_stop_that_hangs_ends_at_stop_timeout_s(box, monkeypatch):
    monkeypatch.setenv("SLEEP_STOP", "5")
    out = box.run(stop_timeout_s=0.5)
    assert out["failed"] and out["changed"]
    assert "systemctl stop app.service did not end within 0.5s" in out["msg"]
    assert "stop_timeout_s" in out["msg"]
    assert box.calls() == ["stop app.service"]


def test_an_unhealthy_node_fails_the_probe_with_its_figures(box):
    box.status = 500
    out = box.run(probe={"retries": 1})
    assert out["failed"] and out["changed"]
    assert "http probe of" in out["msg"] and "HTTP 500" in out["msg"]
    assert out["probe"]["failures"] == 2
    assert "release" not in out


def test_a_password_in_the_probe_url_is_never_shown(box):
    box.status = 500
    url = box.url.replace("http://", "http://probe:s3cr3t-pw@")
    out = box.run(probe={"url": url, "retries": 0})
    assert out["failed"] and "http probe of" in out["msg"]
    assert "s3cr3t-pw" not in json.dumps(out)


def test_a_node_that_runs_another_release_is_failed_after_the_probe(box):
    box.running["version"] = "1.0.0"  # the unit started the old tree (a unit that ignores current)
    out = box.run()
    assert out["failed"] and out["changed"]
    assert "node app@host runs release 1.0.0, expected 1.1.0" in out["msg"]
    assert out["release"]["release_version"] == "1.0.0"
