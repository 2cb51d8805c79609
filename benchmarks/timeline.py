# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bench's picture: requests per second by version served, failures, variant and batch marks.

Reads the load generator's --records JSONL of every measured run (one segment per run, placed
side by side) and writes an SVG by hand. Standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

COLOURS = {"1.0.0": "#4c78a8", "1.1.0": "#54a24b", "1.2.0": "#b279a2"}
OTHER = "#9d9d9d"
FAILED = "#e45756"
GAP_S = 6
LEFT, RIGHT, TOP = 60, 20, 50
PLOT_H, FAIL_H, LEGEND_H = 220, 60, 40


def buckets(path: Path) -> tuple[dict[int, dict], float]:
    """Per-second counts of one run: {second: {"ok": {version: n}, "failed": n}} and its length."""
    out: dict[int, dict] = {}
    end = 0.0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            rec = json.loads(line)
            end = max(end, rec["t"])
            bucket = out.setdefault(int(rec["t"]), {"ok": {}, "failed": 0})
            if rec["outcome"] == "ok":
                version = rec["version"] or "?"
                bucket["ok"][version] = bucket["ok"].get(version, 0) + 1
            else:
                bucket["failed"] += 1
    return out, end


def deploys(seg: dict) -> list[tuple[float, float, str]]:
    """The deploy windows of a segment: its own list (several deploys under one load run) or its one
    deploy, labelled by variant and repetition."""
    if "deploys" in seg:
        return [(float(d0), float(d1), str(label)) for d0, d1, label in seg["deploys"]]
    return [(float(seg["deploy"][0]), float(seg["deploy"][1]), f"{seg['variant']} #{seg['rep']}")]


def write_svg(segments: list[dict], path: Path, title: str = "") -> Path:
    """Draw every segment side by side: stacked bars of requests/s by version, failures below the axis."""
    data = []
    offset = 0.0
    for seg in segments:
        records = Path(seg["records"])
        per_second, end = buckets(records) if records.exists() else ({}, 0.0)
        data.append((seg, per_second, offset))
        offset += max([end] + [d[1] for d in deploys(seg)]) + GAP_S
    total = max(offset, 1.0)
    px = min(6.0, max(1.0, 1800 / total))
    width = LEFT + RIGHT + total * px
    height = TOP + PLOT_H + FAIL_H + LEGEND_H + 20
    peak = max([sum(b["ok"].values()) for _, ps, _ in data for b in ps.values()] or [1])
    peak_fail = max([b["failed"] for _, ps, _ in data for b in ps.values()] or [0])
    axis_y = TOP + PLOT_H

    def x(t: float) -> float:
        return LEFT + t * px

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">'
        + escape(title or "Requests per second through HAProxy by version served; failures below the axis")
        + "</text>",
    ]
    for frac in (0, 0.5, 1):  # y axis
        y = axis_y - frac * PLOT_H
        out.append(f'<line x1="{LEFT}" x2="{width - RIGHT:.0f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{peak * frac:.0f}</text>')
    out.append(f'<text x="12" y="{TOP + PLOT_H / 2}" transform="rotate(-90 12 {TOP + PLOT_H / 2})">req/s</text>')
    versions: set[str] = set()
    for seg, per_second, start in data:
        for second, bucket in sorted(per_second.items()):
            y = axis_y
            for version, count in sorted(bucket["ok"].items()):
                versions.add(version)
                h = count / peak * PLOT_H
                y -= h
                colour = COLOURS.get(version, OTHER)
                out.append(
                    f'<rect x="{x(start + second):.1f}" y="{y:.1f}" width="{max(px - 0.3, 0.7):.1f}" '
                    f'height="{h:.1f}" fill="{colour}"/>'
                )
            if bucket["failed"]:
                h = max(2.0, bucket["failed"] / max(peak_fail, 1) * (FAIL_H - 10))
                out.append(
                    f'<rect x="{x(start + second):.1f}" y="{axis_y:.1f}" width="{max(px, 1.5):.1f}" '
                    f'height="{h:.1f}" fill="{FAILED}"><title>{bucket["failed"]} failed</title></rect>'
                )
        for begin, end_s, label in deploys(seg):
            d0, d1 = start + begin, start + end_s
            out.append(f'<line x1="{x(d0):.1f}" x2="{x(d0):.1f}" y1="{TOP - 8}" y2="{axis_y + FAIL_H}" stroke="#222"/>')
            out.append(
                f'<line x1="{x(d1):.1f}" x2="{x(d1):.1f}" y1="{TOP - 8}" y2="{axis_y + FAIL_H}" '
                'stroke="#222" stroke-dasharray="2,2"/>'
            )
            out.append(f'<text x="{x(d0) + 3:.1f}" y="{TOP - 12}">{escape(label)}</text>')
        for t, mark in seg["marks"]:
            out.append(
                f'<line x1="{x(start + t):.1f}" x2="{x(start + t):.1f}" y1="{TOP}" y2="{axis_y}" '
                f'stroke="#f58518" stroke-dasharray="4,3"><title>{escape(mark)}</title></line>'
            )
    out.append(f'<line x1="{LEFT}" x2="{width - RIGHT:.0f}" y1="{axis_y}" y2="{axis_y}" stroke="#222"/>')
    out.append(f'<text x="{LEFT - 6}" y="{axis_y + 14}" text-anchor="end" fill="{FAILED}">{peak_fail}</text>')
    for tick in range(0, int(total) + 1, 30):  # x axis: seconds of load shown (resets left out)
        out.append(f'<text x="{x(tick):.1f}" y="{axis_y + FAIL_H + 14}" text-anchor="middle">{tick}s</text>')
    legend_y = axis_y + FAIL_H + 34
    items = [(v, COLOURS.get(v, OTHER)) for v in sorted(versions)] + [("failed", FAILED)]
    lx = LEFT
    for name, colour in items:
        out.append(f'<rect x="{lx}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{legend_y}">{escape(name)}</text>')
        lx += 80
    out.append(f'<text x="{lx + 10}" y="{legend_y}">solid/dashed black: deploy start/end; orange: batch starts</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
