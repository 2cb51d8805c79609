# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The HTTP probe an upgrade module runs in its own call (cold_upgrade, hot_upgrade): the docs of
    _probe.py UPGRADE_PROBE_SPEC. Each module documents the probe option itself (what it probes, whether it is
    required); this fragment gives its suboptions."""

    DOCUMENTATION = r"""
options:
  probe:
    type: dict
    suboptions:
      url:
        description:
          - URL to request, C(http://) or C(https://) only.
          - Credentials in the URL are sent, but never shown in messages and results.
        type: str
        required: true
      status_codes:
        description: As O(beamops.deploy.health_probe#module:status_codes), for this probe.
        type: list
        elements: int
        default: [200]
      body_regex:
        description: As O(beamops.deploy.health_probe#module:body_regex), for this probe.
        type: str
      successes:
        description: Consecutive successful answers required.
        type: int
        default: 3
      retries:
        description: Failed answers tolerated once the node answered; the probe fails at the next one.
        type: int
        default: 3
      interval_s:
        description: Seconds between two attempts.
        type: float
        default: 1
      timeout_s:
        description: Seconds the probe may take once the node answered.
        type: float
        default: 60
      attempt_timeout_s:
        description: Seconds one request, and the question to the node, may take.
        type: float
        default: 5
"""
