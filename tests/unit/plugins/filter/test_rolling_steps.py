# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of a rolling batch: which task files run, in which order, and which one times its stage."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.rolling_steps import rolling_steps


def files(parts):
    return [(p["file"], p.get("hook") or p.get("gate") or "", bool(p.get("timed"))) for p in parts]


def test_cold_one_call_is_drain_upgrade_ready():
    assert files(rolling_steps("deploy", one_call=True)) == [
        ("drain.yml", "", True),
        ("cold_upgrade.yml", "", False),
        ("ready.yml", "", True),
    ]


def test_hooks_wrap_their_stage_and_the_last_part_times_it():
    parts = rolling_steps("deploy", hooks=["before_drain", "after_probe"], deploy_file="deploy_cold.yml")
    assert files(parts) == [
        ("hook.yml", "before_drain", False),
        ("drain.yml", "", True),
        ("deploy_cold.yml", "", True),
        ("probe.yml", "", False),
        ("hook.yml", "after_probe", True),
        ("ready.yml", "", True),
    ]
    assert [p["stage"] for p in parts] == ["drain", "drain", "deploy", "probe", "probe", "ready"]


def test_no_load_balancer_keeps_only_the_hooks_of_drain_and_ready():
    parts = rolling_steps("deploy", hooks=["after_ready"], drain="false", one_call="true", method="hot")
    assert files(parts) == [("hot_upgrade.yml", "", False), ("hook.yml", "after_ready", True)]


def test_cluster_gates_and_analysis_stand_around_the_stages():
    parts = rolling_steps("deploy", one_call=True, cluster=True, analysis=True)
    assert [p["stage"] for p in parts] == ["cluster_leave", "drain", "deploy", "cluster_rejoin", "ready", "analysis"]
    assert [p.get("gate") for p in parts if p["file"] == "cluster_gate.yml"] == ["leave", "rejoin"]


def test_hot_probe_after_make_permanent_but_not_in_a_fleet_rollback():
    hot = rolling_steps("deploy", method="hot", deploy_file="deploy_hot.yml")
    assert [p.get("after_permanent") for p in hot if p["file"] == "probe.yml"] == [True]
    back = rolling_steps("deploy", method="hot", fleet_rollback=True, deploy_file="deploy_hot_revert.yml")
    assert [p.get("after_permanent") for p in back if p["file"] == "probe.yml"] == [False]


def test_rollback_probes_the_old_version_and_readies():
    parts = rolling_steps("rollback", hooks=["after_rollback"], cluster=True, one_call=True)
    assert files(parts) == [
        ("rollback.yml", "", False),
        ("hook.yml", "after_rollback", True),
        ("probe.yml", "", True),
        ("cluster_gate.yml", "rolled_back", False),
        ("ready.yml", "", True),
    ]
    assert [p.get("old") for p in parts if p["file"] == "probe.yml"] == [True]


def test_an_unknown_phase_is_refused():
    with pytest.raises(AnsibleFilterError, match="deploy or rollback"):
        rolling_steps("upgrade")
