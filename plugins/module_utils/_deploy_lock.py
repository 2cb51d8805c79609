# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock of a release root and its drain mark (target side, standard library only).

- ``<root>/.beamops/deploy.lock``: a directory made with an atomic ``mkdir``, holding ``holder.json``,
  the identity of the run that holds it (the ``deploy_holder`` filter's: user, controller, its
  controller_id, ansible-playbook pid and start time, version), with ``since`` and the node pid added.
- ``<root>/.beamops/drained.json``: written before a run drains the member, removed once it is ready
  again; a run killed in between leaves it, and the next run readies the member.

Who may take a lock over is judged on the controller (the filter reads its process table); here a lock
is only moved aside when its holder is still the one the caller found before.

This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from ansible_collections.beamops.deploy.plugins.module_utils import _fs
from ansible_collections.beamops.deploy.plugins.module_utils._release import write_atomic

# What makes two holders the same run.
KEYS = ("controller", "controller_id", "pid", "started")
_RECORD_LIMIT = 64 * 1024


class LockError(Exception):
    """The lock or the mark cannot be read or written: what failed and what to do."""


def paths(root: str) -> tuple[str, str]:
    """The lock directory and the drain mark of a release root."""
    state = os.path.join(root, ".beamops")
    return os.path.join(state, "deploy.lock"), os.path.join(state, "drained.json")


def _record(path: str):
    """The JSON document at PATH; FileNotFoundError when absent, ValueError when damaged."""
    try:
        return json.loads(_fs.read_text(path, _RECORD_LIMIT))
    except _fs.UnsafeFile as exc:
        raise ValueError(str(exc)) from exc


def read_holder(lock: str) -> dict | None:
    """Who holds LOCK: None when there is no lock, {} when its holder cannot be read."""
    for _attempt in range(10):  # a lock being made: the directory exists a moment before its holder.json
        try:
            holder = _record(os.path.join(lock, "holder.json"))
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            if not os.path.isdir(lock):
                return None
            time.sleep(0.1)
        except (ValueError, UnicodeDecodeError):
            return {}
        except OSError as exc:
            raise LockError(f"cannot read the deploy lock {lock}: {exc}") from exc
    return {}


def same(one: dict | None, two: dict | None) -> bool:
    if one == {} and two == {}:
        return True  # a lock whose holder cannot be read, judged so before: it may be broken
    return bool(one) and bool(two) and all(one.get(k) == two.get(k) for k in KEYS)


def remove(lock: str, holder: dict) -> bool:
    """Remove LOCK when HOLDER holds it (atomically: of two runs removing one lock, one wins)."""
    if not same(read_holder(lock), holder):
        return False
    aside = f"{lock}.gone-{os.getpid()}"
    try:
        os.rename(lock, aside)
    except OSError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    return True


def free(lock: str) -> bool:
    """Whether nobody holds LOCK (what taking it would find)."""
    return read_holder(lock) is None


def take(lock: str, holder: dict, take_over: dict | None = None) -> dict:
    """Take LOCK for HOLDER, first moving aside a lock still held by TAKE_OVER (the holder found before).

    Returns taken (bool) and holder (the one written, or the one found)."""
    if take_over is not None:
        remove(lock, take_over)
    try:
        os.makedirs(os.path.dirname(lock), mode=0o755, exist_ok=True)
        try:
            os.mkdir(lock, 0o755)
        except FileExistsError:
            return {"taken": False, "holder": read_holder(lock) or {}}
        # Readable by every user (whatever the umask): a preflight reads who holds it (release_info) as the
        # user it connects as. The holder names a run, nothing secret.
        os.chmod(lock, 0o755)
    except OSError as exc:
        raise LockError(f"cannot make the deploy lock {lock}: {exc}. Nothing is held.") from exc
    record = dict(holder, since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), node_pid=os.getpid())
    try:
        write_atomic(os.path.join(lock, "holder.json"), json.dumps(record).encode(), 0o644)
    except OSError as exc:
        # A lock without its holder (a full disk) would refuse every later run: none is left behind.
        shutil.rmtree(lock, ignore_errors=True)
        raise LockError(
            f"could not write the deploy lock's holder into {lock}: {exc}; the lock was removed again, "
            "nothing is held. Free space on the node and run again."
        ) from exc
    return {"taken": True, "holder": record}


def read_mark(mark: str) -> dict | None:
    """The drain mark: None when there is none, {} when damaged (a run drained the member all the same)."""
    try:
        record = _record(mark)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {}
    except OSError as exc:
        raise LockError(f"cannot read the drain mark {mark}: {exc}") from exc
    return record if isinstance(record, dict) else {}


def write_mark(mark: str, record: dict) -> None:
    try:
        os.makedirs(os.path.dirname(mark), mode=0o755, exist_ok=True)
        write_atomic(mark, json.dumps(record).encode(), 0o644)
    except OSError as exc:
        raise LockError(f"cannot write the drain mark {mark}: {exc}. The member was not drained.") from exc


def forget_mark(mark: str, holder: dict) -> bool:
    """Remove the drain mark when HOLDER wrote it (one another run wrote, having taken the lock over, stays)."""
    if not same((read_mark(mark) or {}).get("by"), holder):
        return False
    try:
        os.remove(mark)
    except FileNotFoundError:
        return False
    return True


def drop_mark(mark: str) -> None:
    """Remove the drain mark whoever wrote it (the member it names is ready again)."""
    try:
        os.remove(mark)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LockError(f"cannot remove the drain mark {mark}: {exc}") from exc


def acquire(root: str, holder: dict, take_over: dict | None, mark: dict | None, check: bool) -> dict:
    """Take the lock of ROOT for HOLDER (moving aside TAKE_OVER's first) and, once it is held, write MARK.

    Returns taken, holder (who holds it now), drained (the mark an interrupted run left, read once the lock
    was taken; None for none) and, with MARK, marked. In check mode nothing is written: what would be."""
    lock, mark_path = paths(root)
    if check:
        found = read_holder(lock)
        taken = found is None or (take_over is not None and same(found, take_over))
        result = {"taken": taken, "holder": holder if taken else found, "drained": read_mark(mark_path)}
        if mark is not None:
            result["marked"] = taken or same(found, holder)
        return result
    result = take(lock, holder, take_over)
    # A lock this run holds already (taken earlier in the run) has no interrupted run's mark to report.
    holds = result["taken"] or same(result["holder"], holder)
    result["drained"] = read_mark(mark_path) if result["taken"] else None
    if mark is not None:
        # Written after the mark found was read: the next run readies this member only if this run is gone.
        if holds:
            write_mark(mark_path, dict(mark, by=holder))
        result["marked"] = holds
    return result


def inspect(root: str) -> dict:
    """What a read-only look finds: the lock's path, its holder (None: free; {}: unreadable holder) and the
    drain mark (None for none). readable is False when the state directory cannot be read by this user
    (then holder and drained are None and say nothing)."""
    lock, mark_path = paths(root)
    try:
        return {"path": lock, "readable": True, "holder": read_holder(lock), "drained": read_mark(mark_path)}
    except LockError:
        return {"path": lock, "readable": False, "holder": None, "drained": None}
