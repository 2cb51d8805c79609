# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by every scenario's tests (pytest reads it as a parent of each tests/ folder): the lab's
helpers (lab/labtools.py) on the import path."""

import os
import sys
from pathlib import Path

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(ROOT / "lab"))
