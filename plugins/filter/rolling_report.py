# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rolling_report
short_description: The rolling role's host records merged into one report, its outcome and summary lines
version_added: 0.1.0
description:
  - Orders the records the hosts of a rolling run wrote (the batches' hosts in the order they started, then
    those that needed no batch), says the outcome of the run, and words one summary line per host.
positional: _input
options:
  _input:
    description: The records, each a dict with C(host), C(batch), C(started), C(outcome) and the rest of a record.
    type: list
    elements: dict
    required: true
author:
  - beamops.deploy contributors (@beamops)
"""

EXAMPLES = r"""
- name: Print the summary of the records written so far
  ansible.builtin.debug:
    msg: "{{ (query('ansible.builtin.fileglob', records_dir ~ '/*.json') | map('ansible.builtin.file')
              | map('from_json') | beamops.deploy.rolling_report).lines }}"
"""

RETURN = r"""
_value:
  description:
    - V(hosts), the records in order; V(outcome), V(lb_unreachable), V(rolled_back), V(refused) (the first
      of those a host had) or V(ok); V(lines), one line per host (versions, outcome, seconds, steps, error).
  type: dict
"""

# The first of these a host had is the run's outcome; none, ok.
STOPS = ("lb_unreachable", "rolled_back", "refused")


def _line(record: dict) -> str:
    batch = f"batch of {len(record['batch'])}" if record.get("batch") else "no batch"
    line = (
        f"{record['host']} ({batch}): {record.get('version_before')} -> {record.get('version_after')}, "
        f"{record.get('outcome')} in {record.get('seconds')} s"
    )
    steps = record.get("steps") or []
    if steps:
        line += " (" + ", ".join(f"{s.get('step')} {s.get('seconds')} s" for s in steps) + ")"
    if record.get("error"):
        line += f" - {record['error']}"
    return line


def rolling_report(records) -> dict:
    ordered = sorted(records, key=lambda r: (float(r.get("started") or 0), r.get("host", "")))
    hosts = [r for r in ordered if r.get("batch")] + [r for r in ordered if not r.get("batch")]
    outcomes = {r.get("outcome") for r in hosts}
    return {
        "hosts": hosts,
        "outcome": next((stop for stop in STOPS if stop in outcomes), "ok"),
        "lines": [_line(r) for r in hosts],
    }


class FilterModule:
    def filters(self):
        return {"rolling_report": rolling_report}
