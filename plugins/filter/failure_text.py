# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: failure_text
short_description: One line saying which task failed and why, from a rescue's failed result
version_added: 0.1.0
description:
  - Turns C(ansible_failed_result) in a C(rescue) into the line the strategy roles put in their reports and
    failure messages, the name of the task that failed, a colon, and why.
  - The reason is the result's C(msg); for a loop, the C(msg) of each failed item, joined with C(; ); for a
    command that exited non-zero, the last line it wrote to standard error (or standard output) is added.
  - The rolling, hot_upgrade and blue_green roles all word their failures through this filter.
positional: _input, task
options:
  _input:
    description: The failed result (C(ansible_failed_result)).
    type: dict
    required: true
  task:
    description: The name of the task that failed (C(ansible_failed_task.name)).
    type: str
    default: "?"
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Deploy, and keep what failed
  block:
    - name: Deploy
      ansible.builtin.include_tasks: deploy.yml
  rescue:
    - name: Remember what failed
      ansible.builtin.set_fact:
        deploy_error: >-
          {{ ansible_failed_result | beamops.deploy.failure_text(ansible_failed_task.name | default('?')) }}
"""

RETURN = r"""
_value:
  description:
    - "The task's name, a colon and why, for example C(Probe the node's health endpoint: no success in 20 attempts)."
  type: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_LIMIT = 1000  # characters of reason kept: a report line, not a log


def _last_line(text) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _why(result: Mapping) -> str:
    msg = str(result.get("msg") or "").strip()
    if result.get("rc") not in (None, 0):
        tail = _last_line(result.get("stderr")) or _last_line(result.get("stdout"))
        if tail and tail not in msg:
            msg = f"{msg} ({tail})" if msg else tail
    return msg


def failure_text(result, task="?"):
    if result is None:
        result = {}
    if not isinstance(result, Mapping):
        raise AnsibleFilterError(
            f"failure_text: the input must be the failed result (ansible_failed_result), got {type(result).__name__}"
        )
    items = result.get("results")
    reasons = []
    if isinstance(items, list):
        reasons = [_why(item) for item in items if isinstance(item, Mapping) and item.get("failed")]
    reasons = [reason for reason in reasons if reason] or [_why(result)]
    why = "; ".join(reason for reason in reasons if reason)
    if len(why) > _LIMIT:
        why = why[: _LIMIT - 3] + "..."
    return f"{task or '?'}: {why}"


class FilterModule:
    def filters(self):
        return {"failure_text": failure_text}
