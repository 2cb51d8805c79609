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


# Each hook stands on the side of its stage its name says; the last part of a stage times it. A rollback
# probes the old version (its probe part says old) before the cluster view and the ready.
HOOKED = {
    "deploy, split by hooks": (
        ("deploy", {"hooks": ["before_drain", "after_probe"], "deploy_file": "deploy_cold.yml"}),
        "hook.yml:before_drain drain.yml:+ deploy_cold.yml:+ probe.yml hook.yml:after_probe:+ ready.yml:+",
        ["drain", "drain", "deploy", "probe", "probe", "ready"],
    ),
    "rollback, in a cluster": (
        ("rollback", {"hooks": ["after_rollback"], "cluster": True, "one_call": True}),
        "rollback.yml hook.yml:after_rollback:+ probe.yml:+ cluster_gate.yml:rolled_back ready.yml:+",
        ["rollback", "rollback", "probe", "cluster_rolled_back", "ready"],
    ),
}


def spelt(parts):
    """files() in one line: file[:hook or gate][:+ when it times its stage]."""
    return " ".join(":".join([f] + ([h] if h else []) + (["+"] if t else [])) for f, h, t in files(parts))


@pytest.mark.parametrize("case", sorted(HOOKED))
def test_hooks_wrap_their_stage_and_the_last_part_times_it(case):
    (phase, options), expected, stages = HOOKED[case]
    parts = rolling_steps(phase, **options)
    assert spelt(parts) == expected
    assert [p["stage"] for p in parts] == stages


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


def test_rollback_probes_the_old_version():
    parts = rolling_steps("rollback", hooks=["after_rollback"], cluster=True, one_call=True)
    assert [p.get("old") for p in parts if p["file"] == "probe.yml"] == [True]


def test_an_unknown_phase_is_refused():
    with pytest.raises(AnsibleFilterError, match="deploy or rollback"):
        rolling_steps("upgrade")
