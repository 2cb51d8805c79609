# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Galaxy's own import of the built collection tarball, as `make lint` runs it (galaxy-importer, in its
venv, without the checks that need containers: see .config/galaxy-importer.cfg), and a check that the
tarball ships no development-only file and no test importing one.

Usage: python galaxy_import.py TARBALL WORKDIR. Exits 1 when the importer fails or logs any warning or
error. Its full result (importer_result.json) and log are left in WORKDIR.

galaxy.yml names no repository until the collection has a public home (a placeholder is worse than
none: .config/ansible-lint.yml skips galaxy[no-repository] for the same reason). Galaxy refuses an
import without one before it checks anything else, so while MANIFEST.json has none the importer gets
a copy of the tarball whose MANIFEST.json names this work tree, and this says so. Everything else is
the built artifact as it is. Drop that step together with the first real `repository:` in galaxy.yml.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".config" / "galaxy-importer.cfg"
# What only development uses: never in the artifact, and no shipped test may import it.
DEV_ONLY = ("lab/", "samples/", "scripts/", "extensions/", "benchmarks/", "ee/", "beamops-reports/", ".build/")
# What a shipped test may import besides the standard library (yaml: a dependency of ansible-core).
TEST_IMPORTS = {"pytest", "ansible", "ansible_collections", "yaml"}


def with_repository(tarball: Path, workdir: Path, repository: str) -> Path:
    """A copy of tarball whose MANIFEST.json names repository (members and their order kept)."""
    copy = workdir / tarball.name
    with tarfile.open(tarball, "r:gz") as src, tarfile.open(copy, "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isreg() else None
            if member.name == "MANIFEST.json":
                manifest = json.loads(data)
                manifest["collection_info"]["repository"] = repository
                data = json.dumps(manifest, indent=4).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    return copy


def dev_only_content(tarball: Path) -> list[str]:
    """Development-only files in the artifact, and shipped tests importing anything but the standard
    library, pytest, Ansible and this collection (the lab's tools, say)."""
    found = []
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith(DEV_ONLY):
                found.append(f"{member.name} is development-only")
            elif member.name.startswith("tests/") and member.name.endswith(".py"):
                tree = ast.parse(tar.extractfile(member).read(), member.name)
                for node in ast.walk(tree):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                    if isinstance(node, ast.ImportFrom) and node.level == 0:
                        names = [node.module]
                    for name in names:
                        top = name.split(".")[0]
                        if top not in sys.stdlib_module_names and top not in TEST_IMPORTS:
                            found.append(f"{member.name} imports {name}, which the collection does not ship")
    return found


def main(tarball: Path, workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    shipped_dev = dev_only_content(tarball)
    for line in shipped_dev:
        print(f"galaxy-importer: {tarball.name}: {line}")
    with tarfile.open(tarball, "r:gz") as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    checked = tarball
    if not info.get("repository"):
        source = Path(__file__).resolve().parents[1]
        checked = with_repository(tarball, workdir, source.as_uri())
        print(
            f"galaxy-importer: galaxy.yml names no repository (Galaxy requires one); checking {tarball.name} "
            f"with repository {source.as_uri()} in its MANIFEST.json"
        )
    # The importer finds ansible-doc and ansible-lint on PATH: those of its own venv.
    python = os.path.abspath(sys.executable)
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(CONFIG), PATH=f"{Path(python).parent}:{os.environ['PATH']}")
    started = time.monotonic()
    run = subprocess.run(
        [python, "-m", "galaxy_importer.main", str(checked.resolve())],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    log = run.stdout + run.stderr
    (workdir / "importer.log").write_text(log, encoding="utf-8")
    findings = [line for line in log.splitlines() if re.match(r"(WARNING|ERROR|CRITICAL)\b", line)]
    ok = run.returncode == 0 and "Importer processing completed successfully" in log and not findings
    ok = ok and not shipped_dev
    for line in findings:
        print(f"galaxy-importer: {line}")
    verdict = "passed" if ok else f"FAILED (exit {run.returncode}; log: {workdir / 'importer.log'})"
    print(f"galaxy-importer {verdict} on {tarball.name} in {seconds:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
