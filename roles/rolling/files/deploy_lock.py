# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The deploy lock of one node, run there with `python3 -c` by the rolling role (standard library).
#   take LOCKDIR HOLDER [STALE [MARK]]
#                                 make LOCKDIR (atomic mkdir) holding holder.json; with STALE (the
#                                 holder found before; null for none), first move aside a lock still
#                                 held by it; with MARK, once the lock is taken, read the drain mark
#                                 an interrupted run left there (drained: its record, or null)
#   check LOCKDIR HOLDER STALE MARK
#                                 for a node the run changes nothing on: take the lock only when the
#                                 drain mark MARK is there (the run readies that member); else take
#                                 nothing and say who holds the lock (holder: null when nobody does)
#   release LOCKDIR HOLDER [MARK] remove LOCKDIR when HOLDER holds it; with MARK, also remove the
#                                 drain mark FILE when HOLDER wrote it (the member is ready again)
#   mark FILE RECORD              write the drain mark FILE (RECORD, a JSON object) atomically
# Prints one JSON object: taken/released/marked, and the holder found.
import json
import os
import shutil
import sys
import time

KEYS = ("controller", "controller_id", "pid", "started")


def read(lock):
    for _attempt in range(10):  # a lock being made: the directory exists a moment before its holder.json
        try:
            with open(os.path.join(lock, "holder.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            if not os.path.isdir(lock):
                return None
            time.sleep(0.1)
        except ValueError:
            return {}
    return {}


def same(one, two):
    if one == {} and two == {}:
        return True  # a lock whose holder cannot be read, judged so before: it may be broken
    return bool(one) and bool(two) and all(one.get(k) == two.get(k) for k in KEYS)


def remove(lock, holder):
    aside = f"{lock}.gone-{os.getpid()}"
    if not same(read(lock), holder):
        return False
    try:
        os.rename(lock, aside)  # atomic: of two runs removing the same lock, one wins
    except OSError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    return True


def take(lock, holder, stale):
    if stale is not None:
        remove(lock, stale)
    os.makedirs(os.path.dirname(lock), mode=0o755, exist_ok=True)
    try:
        os.mkdir(lock, 0o700)
    except FileExistsError:
        return {"taken": False, "holder": read(lock) or {}}
    record = dict(holder, since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), node_pid=os.getpid())
    tmp = os.path.join(lock, ".holder.json.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, os.path.join(lock, "holder.json"))
    except OSError as exc:
        # A lock without its holder (a full disk) would refuse every later run: none is left behind.
        shutil.rmtree(lock, ignore_errors=True)
        sys.exit(
            f"could not write the deploy lock's holder into {lock}: {exc}; the lock was removed again, "
            "nothing is held. Free space on the node and run again."
        )
    return {"taken": True, "holder": record}


def mark(path, record):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return {"marked": path}


def read_mark(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # a damaged mark still means a run drained the member and never readied it
    return record if isinstance(record, dict) else {}


def forget_mark(path, holder):
    if not same((read_mark(path) or {}).get("by"), holder):
        return False  # no mark, or one another run wrote (it took the lock over): it stays
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


def main(argv):
    action, lock, holder = argv[1], argv[2], json.loads(argv[3])
    if action == "mark":
        result = mark(lock, holder)
    elif action == "check" and read_mark(argv[5]) is None:
        result = {"taken": False, "holder": read(lock), "drained": None}
    elif action in ("take", "check"):
        result = take(lock, holder, json.loads(argv[4]) if len(argv) > 4 else None)
        if len(argv) > 5:
            result["drained"] = read_mark(argv[5])
    else:
        result = {"released": remove(lock, holder)}
        if len(argv) > 4:
            result["forgot_mark"] = forget_mark(argv[4], holder)
    print(json.dumps(result))


main(sys.argv)
