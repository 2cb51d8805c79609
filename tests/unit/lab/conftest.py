# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the lab's own tools (lab/labtools.py, lab/loadgen.py): development-only code, so these tests
are not shipped either (galaxy.yml build_ignore: tests/unit/lab)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lab"))
