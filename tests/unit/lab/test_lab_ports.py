# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ports the labs publish on loopback stay out of Linux's ephemeral range (32768-60999 by default).

An outgoing connection of another lane (SSH, the load generator) may hold any port in that range,
and podman then cannot publish there: CI once lost the ee-check's lab to "bind: address already in
use" on 127.0.0.1:58080. Every default below is read from the file that sets it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EPHEMERAL_LOW = 32768
# setdefault("BEAMOPS_LAB_..._PORT", "N"), "BEAMOPS_LAB_..._PORT": "N", ${BEAMOPS_LAB_..._PORT:-N},
# os.environ.get('BEAMOPS_LAB_..._PORT', 'N') and the SSH prefixes (a digit is appended to them).
SETTING = re.compile(r"""BEAMOPS_LAB_(?:\w+_)?(PORT|SSH_PREFIX)['"]?\s*(?:,|:-|:)\s*['"]?(\d+)""")
SOURCES = [
    "ee/check.py",
    "benchmarks/bench.py",
    "scripts/molecule_lanes.py",
    "lab/labtools.py",
    "Makefile",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "extensions" / "molecule").glob("*/molecule.yml")),
    "extensions/molecule/config.yml",
]


def settings():
    for source in SOURCES:
        for kind, value in SETTING.findall((ROOT / source).read_text()):
            yield source, kind, value


def test_the_pattern_finds_the_defaults():
    found = {(source, value) for source, _kind, value in settings()}
    assert ("ee/check.py", "26080") in found
    assert ("scripts/molecule_lanes.py", "2240") in found
    assert ("extensions/molecule/user_journey/molecule.yml", "2220") in found
    assert len(found) >= 12


@pytest.mark.parametrize("source,kind,value", sorted(set(settings())))
def test_published_ports_are_below_the_ephemeral_range(source, kind, value):
    highest = int(value) * 10 + 9 if kind == "SSH_PREFIX" else int(value)
    assert highest < EPHEMERAL_LOW, f"{source}: {value} reaches {highest}, in the ephemeral range"
