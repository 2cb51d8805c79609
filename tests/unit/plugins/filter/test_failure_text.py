# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failure_text filter: the one wording of "which task failed and why" in every strategy's report."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.failure_text import FilterModule, failure_text


def test_a_plain_failure_is_the_task_name_and_its_message():
    result = {"failed": True, "msg": "no success in 20 attempts"}
    assert failure_text(result, "Probe the node") == "Probe the node: no success in 20 attempts"


def test_a_loop_gives_the_message_of_each_failed_item_only():
    result = {
        "failed": True,
        "msg": "One or more items failed",
        "results": [
            {"failed": False, "msg": "fine"},
            {"failed": True, "msg": "lb1 unreachable"},
            {"failed": True, "msg": "lb2 unreachable"},
        ],
    }
    assert failure_text(result, "Drain") == "Drain: lb1 unreachable; lb2 unreachable"


def test_a_loop_whose_items_say_nothing_falls_back_to_the_message():
    result = {"failed": True, "msg": "One or more items failed", "results": [{"failed": True}]}
    assert failure_text(result, "Drain") == "Drain: One or more items failed"


def test_a_command_that_exited_non_zero_adds_the_last_line_it_wrote():
    result = {"failed": True, "rc": 1, "msg": "non-zero return code", "stderr": "starting\nbeam: no space left\n"}
    assert failure_text(result, "Hook") == "Hook: non-zero return code (beam: no space left)"
    quiet = {"failed": True, "rc": 2, "msg": "", "stderr": "", "stdout": "refused\n"}
    assert failure_text(quiet, "Hook") == "Hook: refused"


def test_a_missing_name_or_result_still_gives_a_line():
    assert failure_text({}, None) == "?: "
    assert failure_text(None) == "?: "


def test_a_long_reason_is_cut():
    text = failure_text({"msg": "x" * 5000}, "T")
    assert len(text) < 1100 and text.endswith("...")


def test_anything_but_a_result_is_refused():
    with pytest.raises(AnsibleFilterError, match="ansible_failed_result"):
        failure_text("boom", "T")
    assert FilterModule().filters()["failure_text"] is failure_text
