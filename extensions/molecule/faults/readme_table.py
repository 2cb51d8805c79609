# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the README's fault table from a run's rows: python3 readme_table.py [.build/figures/faults.json].

One row per case: fault, where injected, outcome, failed requests (of all sent), seconds to recover,
the first line the user saw (temporary paths shortened to dist/, cut at about 170 characters).
"""

import json
import re
import sys
from pathlib import Path

WIDTH = 170


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def first_line(row):
    if row.get("proved_by"):
        proved = row["proved_by"]
        return f"({proved})" if proved.startswith("none") else f"(proved by {proved})"
    text = str(row.get("message") or "").splitlines()[0] if row.get("message") else ""
    text = re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/faults\d+/bad\d+/", "dist/", text)
    text = text.replace("[ERROR]: Task failed: Module failed: ", "")
    return text if len(text) <= WIDTH else text[:WIDTH].rstrip() + " …"


def main():
    path = Path(
        sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / ".build/figures/faults.json"
    )
    rows = json.loads(path.read_text(encoding="utf-8"))
    rows = rows["rows"] if isinstance(rows, dict) else rows
    print("| fault | where injected | outcome | failed requests | s to recover | first line the user saw |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        failed = row.get("failed_requests")
        if failed is None:
            failed_cell = "—"
        elif row.get("proved_by"):
            failed_cell = str(failed)
        else:
            failed_cell = f"{failed} of {failed + row.get('requests_ok', 0)}"
        recover = "—" if row.get("recover_s") is None else f"{row['recover_s']:g}"
        cells = [row["fault"], row["injected_at"], row["outcome"], failed_cell, recover, first_line(row)]
        print("| " + " | ".join(cell(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
