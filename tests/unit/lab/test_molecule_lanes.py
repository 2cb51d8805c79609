# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make molecule`'s lane runner (scripts/molecule_lanes.py): its plan, and the digest of a failed log."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("molecule_lanes", ROOT / "scripts" / "molecule_lanes.py")
lanes = importlib.util.module_from_spec(spec)
sys.modules["molecule_lanes"] = lanes
spec.loader.exec_module(lanes)

# The shape of Molecule 25's framed output, colours included, with a rescued failure before the real one.
LOG = "\n".join(
    [
        "  \x1b[2m\x1b[32m\u2502\x1b[0m TASK [Unpack the hostile 1.4.0]",
        "  \x1b[2m\x1b[31m\u2502\x1b[0m \x1b[0;31mfatal: [beamops-node3]: FAILED! => \x1b[0m",
        "  \u2502     msg: rescued and asserted",
        "  \u2502 ",
        "  \u2502 TASK [Install 1.1.0 in place]",
        "  \u2502   ****************",
        "  \u2502 fatal: [beamops-node1]: FAILED! => ",
        "  \u2502     changed: false",
        "  \u2502     msg: the node did not answer within 30 s",
        "  \u2502 PLAY RECAP",
        "  \u2502   - FAILED cases/test_release.py::test_kept - AssertionError: 2 != 3",
        "  \u2502   - E       assert 2 == 3",
        "  \u2502     - 'E       AssertionError: assert ''releases/1.0.0'' == x'",
        "\x1b[31mERROR   \x1b[0m Ansible return code was 2",
    ]
)


def test_the_digest_names_the_last_failed_task_and_the_failed_tests():
    out = lanes.digest(LOG)
    assert out[0] == "TASK [Install 1.1.0 in place]"
    assert "fatal: [beamops-node1]: FAILED! =>" in out
    assert any("did not answer within 30 s" in line for line in out)
    assert not any("rescued" in line or "hostile" in line for line in out)
    assert "- FAILED cases/test_release.py::test_kept - AssertionError: 2 != 3" in out
    assert "- E       assert 2 == 3" in out
    assert "- 'E       AssertionError: assert ''releases/1.0.0'' == x'" in out
    assert lanes.digest("nothing failed here\n") == []


def test_the_plan_puts_the_longest_first_on_the_least_loaded_lane():
    plan = lanes.plan(["a", "b", "c", "d"], 2, {"a": 10, "b": 8, "c": 3, "d": 4})
    assert plan == [["a", "c"], ["b", "d"]]
    assert lanes.plan(["a", "b"], 1, {"a": 1, "b": 2}) == [["b", "a"]]
