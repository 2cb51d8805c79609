# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The fleet rollback's plan for one node, run there with `python3 -c` by the rolling role (standard
# library only), as the user the release runs as:
#   ROOT BAD METHOD TO REPORT_BEFORE INFO
# ROOT the deploy root; BAD the version to leave (rolling_version); METHOD auto, cold or hot
# (rolling_rollback_method); TO the version to return to when the user names one (or empty);
# REPORT_BEFORE the version the deploy's JSON report gives for this host (or empty); INFO what
# release_info returned (JSON: current, previous, installed, node).
# Reads the node's own history (<root>/.beamops/history.json) and the record hot_upgrade keeps of
# where an upgrade came from (releases/.beamops-hot-upgrade.json in the release's tree), and prints
# one JSON object: action (rollback or leave), target, method, source, reason, knows_bad, problem.
import json
import os
import stat
import sys

KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"))
KINDS += ((stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def read_json(path):
    """(the JSON object at path, or {} when there is none or it is damaged; why it was refused, or "").

    Opened without blocking: a FIFO or a device in its place is refused, never read (a read would wait
    for ever, or never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}, ""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
            return {}, f"{path} is not a regular file ({kind}): it is not read; remove or replace it"
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = json.loads(handle.read(16 * 1024 * 1024).decode("utf-8"))
    except (OSError, ValueError):
        return {}, ""
    finally:
        os.close(fd)
    return (data if isinstance(data, dict) else {}), ""


def tree(root):
    """The release tree a cold start uses: current's target, else the root itself (a plain release dir)."""
    current = os.path.join(root, "current")
    return os.path.realpath(current) if os.path.lexists(current) else root


def plan(info, history, record, bad, method="auto", to="", report_before=""):
    node = info.get("node") or {}
    running = node.get("running_version") or ""
    permanent = node.get("permanent_version") or running
    current = info.get("current") or ""
    installed = info.get("installed") or []
    known = {r.get("version"): r.get("status") for r in node.get("releases") or [] if isinstance(r, dict)}
    versions = history.get("versions") if isinstance(history.get("versions"), dict) else {}
    knows_bad = bad in versions or bad in installed or bad in known or history.get("previous") == bad
    out = {"action": "leave", "target": "", "method": "", "source": "", "reason": "", "knows_bad": knows_bad}
    out["problem"] = ""
    damaged = next(((v, r) for v, r in versions.items() if not isinstance(r, dict)), None)
    if damaged:
        path = os.path.join(info.get("root") or "<root>", ".beamops", "history.json")
        out["problem"] = (
            f"{path} is damaged: the record of version {damaged[0]} under versions is {json.dumps(damaged[1])}, "
            "not a map: move the file aside (the release module starts a new one) and name the version to "
            "return to with rolling_rollback_to=<version>"
        )
        return out
    if not node.get("up"):
        out["problem"] = "its node does not run: start it first, a rollback probes the node it returns"
        return out
    if bad not in (running, current):
        out["reason"] = f"runs {running or 'nothing'} (current {current or 'none'}), not {bad}: left alone"
        return out
    out["action"] = "rollback"
    hot_from = (versions.get(bad) or {}).get("hot_upgraded_from")
    record_from = record.get("from_version") if record.get("version") == bad else None
    installed_hot = running == bad and permanent != bad
    if method == "auto":
        method = "hot" if (hot_from or record_from or installed_hot) and running == bad else "cold"
    out["method"] = method
    previous = history.get("previous")
    if to:
        target, source = to, "rolling_rollback_to"
    elif method == "hot" and installed_hot:
        target, source = permanent, "the permanent release (never made permanent)"
    elif method == "hot" and record_from:
        target, source = record_from, "the node's hot upgrade record"
    elif method == "hot" and hot_from:
        target, source = hot_from, "the node's history"
    elif method == "cold" and previous and previous != bad:
        target, source = previous, "the node's history"
    elif report_before and report_before not in ("none", bad):
        target, source = report_before, "the deploy's report"
    else:
        target, source = "", ""
    out["target"], out["source"] = target, source
    if not target:
        out["problem"] = (
            f"the version it ran before {bad} is unknown (its history names no previous version other than {bad})"
            ": name it with rolling_rollback_to=<version>, or give the deploy's JSON report with"
            " rolling_rollback_report=<path>"
        )
    elif target == bad:
        out["problem"] = f"the version to return to is {bad} itself: fix rolling_rollback_to or rolling_version"
    elif method == "cold" and target not in installed:
        out["problem"] = (
            f"{target} is not unpacked under {info.get('root') or 'the root'}/releases (unpacked: "
            f"{', '.join(installed) or 'none'}): deploy {target} with beamops.deploy.rolling and rolling_src, "
            "or name an unpacked version with rolling_rollback_to"
        )
    elif method == "hot" and target not in known:
        out["problem"] = (
            f"release_handler of the node does not know {target} (it knows "
            f"{', '.join(f'{v} {s}' for v, s in known.items()) or 'nothing'}): roll back cold with "
            "rolling_rollback_method=cold, or name a version it knows with rolling_rollback_to"
        )
    return out


def main(argv):
    root, bad, method, to, report_before, info = argv[:6]
    info = json.loads(info)
    info.setdefault("root", root)
    history, refused = read_json(os.path.join(root, ".beamops", "history.json"))
    record, refused_record = read_json(os.path.join(tree(root), "releases", ".beamops-hot-upgrade.json"))
    out = plan(info, history, record, bad, method, to, report_before)
    if refused or refused_record:
        out["problem"] = refused or refused_record
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
