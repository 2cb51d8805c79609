# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles' argument specs against the roles' own task files: every hook key a stage can look up
is declared, and a misspelt hook is refused by Ansible's validator before any task runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.beamops.deploy.plugins.filter.rolling_steps import rolling_steps

ROLES = Path(__file__).resolve().parents[2] / "roles"
# role -> (hooks variable, the variable naming the stage in its task files, the role whose tasks run)
HOOKS = {
    "rolling": ("rolling_hooks", "__rolling_stage", "rolling"),
    "blue_green": ("blue_green_hooks", "__blue_green_stage", "blue_green"),
}


def spec(role: str, entry: str = "main") -> dict:
    data = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    return data["argument_specs"][entry]["options"]


def stages(role: str, stage_var: str) -> set[str]:
    # The rolling role's stages are the parts its filter lists for a batch and for a rollback.
    found = (
        {part["stage"] for phase in ("deploy", "rollback") for part in rolling_steps(phase)}
        if role == "rolling"
        else set()
    )
    for path in (ROLES / role / "tasks").glob("*.yml"):
        found |= set(re.findall(rf"^\s+{stage_var}: (\w+)\s*$", path.read_text(), re.MULTILINE))
    return found


def validate(options: dict, params: dict) -> list[str]:
    # Only the hooks are checked: the other options' required-ness is not this test's business.
    result = ArgumentSpecValidator(options).validate(params)
    return [str(e) for e in result.errors]


@pytest.mark.parametrize("role", sorted(HOOKS))
def test_every_stage_of_the_tasks_has_its_hooks_declared(role):
    hooks_var, stage_var, task_role = HOOKS[role]
    declared = set(spec(role)[hooks_var]["options"])
    used = stages(task_role, stage_var)
    assert used, f"no stage found in roles/{task_role}/tasks"
    missing = {f"{when}_{stage}" for stage in used for when in ("before", "after")} - declared
    assert not missing, f"{role}: hooks looked up by the tasks but not declared in argument_specs: {missing}"


@pytest.mark.parametrize("role", sorted(HOOKS))
def test_a_misspelt_hook_is_refused_and_a_declared_one_taken(role):
    hooks_var = HOOKS[role][0]
    options = {hooks_var: spec(role)[hooks_var]}
    errors = validate(options, {hooks_var: {"befor_deploy": "/tmp/x.yml"}})
    assert errors and "befor_deploy" in errors[0] and "before_deploy" in errors[0]
    assert validate(options, {hooks_var: {"before_deploy": "/tmp/x.yml"}}) == []


def test_the_rollback_entry_of_blue_green_takes_the_same_hooks_as_its_deploy():
    assert (
        spec("blue_green", "rollback")["blue_green_hooks"]["options"]
        == spec("blue_green")["blue_green_hooks"]["options"]
    )


def test_the_hot_upgrade_role_declares_no_setting_of_its_own():
    """It is the rolling role with rolling_method=hot: its settings are the rolling role's, declared there."""
    for entry in ("main", "preflight"):
        assert spec("hot_upgrade", entry) == {}
    assert not (ROLES / "hot_upgrade" / "defaults").exists()
    assert "rolling_method: hot" in (ROLES / "hot_upgrade" / "tasks" / "main.yml").read_text()


@pytest.mark.parametrize("role", ["rolling"])
def test_every_hook_the_tasks_name_by_key_is_declared(role):
    # Hooks outside the stage runner (preflight, after_install) are looked up by their key.
    hooks_var, task_role = HOOKS[role][0], HOOKS[role][2]
    declared = set(spec(role)[hooks_var]["options"])
    named = set()
    for path in (ROLES / task_role / "tasks").glob("*.yml"):
        named |= set(re.findall(r"rolling_hooks\['(\w+)'\]|__rolling_hook: (\w+)", path.read_text()))
    named = {name for pair in named for name in (pair if isinstance(pair, tuple) else (pair,)) if name}
    assert {"before_preflight", "after_preflight", "after_install"} <= named
    assert named <= declared, f"{role}: hooks named in roles/{task_role}/tasks but not declared: {named - declared}"
