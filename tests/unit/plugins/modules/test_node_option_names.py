# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_probe, hot_upgrade and release_info name their times with a unit (_s); the old names (interval,
timeout, attempt_timeout, restart_timeout) still work, with a deprecation warning, until 1.0.0."""

from __future__ import annotations

from typing import ClassVar

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _otp
from ansible_collections.beamops.deploy.plugins.modules import health_probe, hot_upgrade, release_info


def deprecated(result) -> list[str]:
    return [str(d.get("msg", d)) for d in result.get("deprecations", [])]


class RecordingNode:
    """Stands in for _otp.Node: records its options and the restart wait; a node on 1.1.0 (current,
    never made permanent) over 1.0.0 (permanent), which a restart boots."""

    options: ClassVar[dict] = {}
    waited: ClassVar[list] = []
    releases: ClassVar[list] = []

    def __init__(self, module, release, **options):
        RecordingNode.options = options
        self.release, self.name, self.unreachable_reason = release, "app@host", None

    def status(self):
        rels = [{"version": v, "status": s} for v, s in RecordingNode.releases]
        current = next((r["version"] for r in rels if r["status"] == "current"), None)
        permanent = next(r["version"] for r in rels if r["status"] == "permanent")
        return {
            "up": True,
            "name": self.name,
            "cookie_source": "vm_args",
            "unreachable_reason": None,
            "releases": rels,
            "running_version": current or permanent,
            "permanent_version": permanent,
            "os_pid": "4242",
            "restart_marker": str(len(RecordingNode.waited)),
            "applications": ["app"],
            "root_dir": self.release.path,
            "rpc_errors": {},
        }

    def rpc(self, mod, fun, args="[]", timeout=None):
        assert (mod, fun) == ("init", "restart"), (mod, fun)
        RecordingNode.releases = [[v, "unpacked" if s == "current" else s] for v, s in RecordingNode.releases]
        return "ok", 0

    def wait_up(self, timeout):
        RecordingNode.waited.append(timeout)
        return self.status()


@pytest.fixture
def node(monkeypatch):
    for module in (_otp, release_info):  # hot_upgrade's Node comes from _otp.release_node
        monkeypatch.setattr(module, "Node", RecordingNode)
    monkeypatch.setattr(hot_upgrade.time, "sleep", lambda _seconds: None)
    RecordingNode.options, RecordingNode.waited = {}, []
    RecordingNode.releases = [["1.1.0", "current"], ["1.0.0", "permanent"]]
    return RecordingNode


@pytest.fixture
def root(tmp_path):
    """A relx release directory whose start script boots 1.0.0."""
    root = tmp_path / "app"
    (root / "bin").mkdir(parents=True)
    (root / "releases").mkdir()
    for script, vsn in (("app", "1.0.0"), ("app-1.0.0", "1.0.0"), ("app-1.1.0", "1.1.0")):
        (root / "bin" / script).write_text(f'#!/bin/sh\nREL_VSN="{vsn}"\n')
    return str(root)


@pytest.fixture
def prober(monkeypatch):
    """The times health_probe gives its Prober."""
    seen = {}
    real = health_probe.Prober

    def recording(check, **times):
        seen.update(times)
        return real(check, **times)

    monkeypatch.setattr(health_probe, "Prober", recording)
    return seen


PROBE_TIMES = {"interval": 0.01, "timeout": 7.5, "attempt_timeout": 2.5}
HOT_UPGRADE_TIMES = {"timeout": 11, "restart_timeout": 13}


@pytest.mark.parametrize("suffix", ["_s", ""], ids=["new names", "old names"])
def test_health_probe_times_reach_the_probe_under_either_name(run_module, http_server, prober, suffix):
    args = {"kind": "http", "url": http_server(fixed=200), "successes": 2}
    result = run_module(health_probe, {**args, **{name + suffix: value for name, value in PROBE_TIMES.items()}})
    assert not result.get("failed"), result
    assert prober == {"successes": 2, "retries": 3, "start_timeout": 0.0, **PROBE_TIMES}
    notes = " ".join(deprecated(result))
    if suffix:
        assert notes == ""
    for name in PROBE_TIMES:
        assert (f"Alias '{name}' is deprecated" in notes) == (not suffix), notes


@pytest.mark.parametrize("suffix", ["_s", ""], ids=["new names", "old names"])
def test_hot_upgrade_times_reach_the_node_under_either_name(run_module, node, root, suffix):
    args = {"name": "app", "root": root, "state": "rolled_back"}
    result = run_module(hot_upgrade, {**args, **{name + suffix: value for name, value in HOT_UPGRADE_TIMES.items()}})
    assert not result.get("failed"), result
    assert result["node_restarted"] and result["version"] == "1.0.0"
    assert node.options["timeout"] == 11 and node.waited == [13]
    notes = " ".join(deprecated(result))
    if suffix:
        assert notes == ""
    for name in HOT_UPGRADE_TIMES:
        assert (f"Alias '{name}' is deprecated" in notes) == (not suffix), notes


@pytest.mark.parametrize("name", ["timeout_s", "timeout"])
def test_release_info_timeout_reaches_the_node_under_either_name(run_module, node, root, name):
    result = run_module(release_info, {"name": "app", "root": root, name: 9, "drift_warnings": False})
    assert not result.get("failed"), result
    assert result["node"]["running_version"] == "1.1.0" and node.options["timeout"] == 9
    notes = deprecated(result)
    if name == "timeout_s":
        assert notes == []
    else:
        assert len(notes) == 1 and "Alias 'timeout' is deprecated" in notes[0], notes
