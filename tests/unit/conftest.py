# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lab"))


def _collections_dir() -> Path:
    """A directory whose ansible_collections/beamops/deploy is this work tree, for the FQCN imports.

    The tree itself when it already sits at ansible_collections/beamops/deploy (ansible-test's copy),
    else the link `make collection` makes, else a private link removed at exit.
    """
    if ROOT.parent.parent.name == "ansible_collections":
        return ROOT.parents[2]
    made = ROOT / ".build" / "collections"
    if (made / "ansible_collections" / "beamops" / "deploy").resolve() == ROOT:
        return made
    private = Path(tempfile.mkdtemp(prefix="beamops-unit-"))
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    link = private / "ansible_collections" / "beamops" / "deploy"
    link.parent.mkdir(parents=True)
    os.symlink(ROOT, link)
    return private


sys.path.insert(0, str(_collections_dir()))
