# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """What each attribute means, written once for every module; each module gives its support and details."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and report what would change, without changing anything.
  diff_mode:
    description: Can show in diff mode what changed, or what would change in check mode.
  idempotent:
    description: Run a second time with the same arguments, it changes nothing and reports no change.
"""

    # The modules that only read (release_info, health_probe, lb_member_info, lb_stats).
    READ_ONLY = r"""
attributes:
  check_mode:
    support: full
    details:
      - It only reads, and runs the same in check mode.
  diff_mode:
    support: N/A
    details:
      - It changes nothing.
  idempotent:
    support: full
    details:
      - It changes nothing.
"""

    # The modules that must run on the host of the release (release_info, hot_upgrade).
    RELEASE_HOST = r"""
attributes:
  platform:
    description: The host that runs the release.
    support: full
    platforms: posix
"""
