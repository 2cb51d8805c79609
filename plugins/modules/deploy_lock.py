#!/usr/bin/python
# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take or release the deploy lock of a release root, and mark a member drained
version_added: 0.1.0
description:
  - One deploy at a time per node. The lock is the directory C(<root>/.beamops/deploy.lock), made with an
    atomic C(mkdir), holding who took it (O(holder), with the time and the node's process id added).
  - Before a run drains a node's member in the load balancers it marks the node
    (C(<root>/.beamops/drained.json)), with the lock (O(state=locked) with O(mark)) or apart
    (O(state=marked)). The mark goes when the member is ready again, or was never drained
    (O(state=unlocked) with O(forget_mark=true)). A run killed in between leaves the mark, and the next
    run, once it holds the lock, finds it in RV(drained) and readies the member where it is still drained.
  - Whether a lock another run holds may be taken over is judged on the control node, where that run's
    process can be looked at (the P(beamops.deploy.deploy_holder#filter) filter); this module moves a lock
    aside only when it is still held by the holder given in O(take_over).
author:
  - beamops.deploy contributors (@beamops)
options:
  root:
    description: Deploy root of the application, for example C(/opt/myapp).
    type: path
    required: true
  holder:
    description:
      - This run's identity, as the P(beamops.deploy.deploy_holder#filter) filter gives it (C(user),
        C(controller), C(controller_id), C(pid), C(started), C(version)).
    type: dict
    required: true
  state:
    description:
      - V(locked) takes the lock for O(holder), and reads the drain mark once it is held.
      - V(inspected) is for a node the run changes nothing on. It takes the lock only when a drain mark is
        there (the run readies that member). Otherwise it writes nothing and says who holds the lock.
      - V(unlocked) releases the lock when O(holder) holds it (a lock another run took over stays).
      - V(marked) writes the drain mark O(mark); V(unmarked) removes the drain mark whoever wrote it (once the
        member an interrupted run left drained is ready again).
      - V(read) only reads who holds the lock and the drain mark, for a caller that could not read them as its own
        user (P(beamops.deploy.release_info#module) returns them too).
    type: str
    choices: [locked, inspected, unlocked, marked, unmarked, read]
    default: locked
  take_over:
    description:
      - With O(state=locked), the holder found before (RV(holder) of an earlier call) whose lock is moved
        aside first, when it still holds it. V({}) is a lock whose holder could not be read.
    type: dict
  mark:
    description:
      - What the drain mark records (the load balancers, the member, the time). Its C(by) is set to O(holder).
      - With O(state=marked), it is written. With O(state=locked), it is written once the lock is held, after
        the mark found there was read into RV(drained), in the same call.
    type: dict
  forget_mark:
    description: With O(state=unlocked), also remove the drain mark O(holder) wrote (the member is ready again).
    type: bool
    default: false
extends_documentation_fragment:
  - beamops.deploy.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is written. V(locked) reports RV(taken) as it would be (the lock is free, or
        O(take_over) still holds it).
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A lock this run holds already is not taken again (RV(taken=false), RV(holder) is this run).
  platform:
    description: The host that runs the release.
    support: full
    platforms: posix
notes:
  - Run it as the user the release runs as (C(become_user)), so that every file under the root stays its own.
"""

EXAMPLES = r"""
- name: Take the deploy lock
  beamops.deploy.deploy_lock:
    root: /opt/myapp
    holder: "{{ '1.1.0' | beamops.deploy.deploy_holder }}"
  register: lock

- name: Release it, and the drain mark this run wrote
  beamops.deploy.deploy_lock:
    root: /opt/myapp
    holder: "{{ '1.1.0' | beamops.deploy.deploy_holder }}"
    state: unlocked
    forget_mark: true
"""

RETURN = r"""
lock_path:
  description: The lock directory.
  returned: always
  type: str
  sample: /opt/myapp/.beamops/deploy.lock
taken:
  description: Whether this call took the lock (with O(state=locked) or O(state=inspected)).
  returned: when O(state) is V(locked) or V(inspected)
  type: bool
holder:
  description:
    - Who holds the lock now (this run's record when RV(taken)); V(null) when nobody does; V({}) when its
      holder cannot be read.
  returned: when O(state) is V(locked), V(inspected) or V(read)
  type: dict
drained:
  description:
    - The drain mark an interrupted run left (V({}) when damaged), read once the lock is held; V(null) for none.
    - With O(state=read), the drain mark there is, whoever wrote it.
  returned: when O(state) is V(locked), V(inspected) or V(read)
  type: dict
released:
  description: Whether the lock was released.
  returned: when O(state=unlocked)
  type: bool
marked:
  description: Whether O(mark) was written (with O(state=locked), once the lock is held).
  returned: when O(state=locked) and O(mark) is given
  type: bool
forgot_mark:
  description: Whether the drain mark was removed.
  returned: when O(state=unlocked) and O(forget_mark=true)
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.beamops.deploy.plugins.module_utils import _deploy_lock as lk


def _locked(p: dict, lock: str, mark: str, check: bool) -> dict:
    inspected = p["state"] == "inspected"
    if inspected and lk.read_mark(mark) is None:
        return {"changed": False, "taken": False, "holder": lk.read_holder(lock), "drained": None}
    result = lk.acquire(p["root"], p["holder"], p["take_over"], None if inspected else p["mark"], check)
    result["changed"] = result["taken"] or result.get("marked", False)
    return result


def _unlocked(p: dict, lock: str, mark: str, check: bool) -> dict:
    if check:
        result = {"released": lk.same(lk.read_holder(lock), p["holder"])}
        if p["forget_mark"]:
            result["forgot_mark"] = lk.same((lk.read_mark(mark) or {}).get("by"), p["holder"])
    else:
        result = {"released": lk.remove(lock, p["holder"])}
        if p["forget_mark"]:
            result["forgot_mark"] = lk.forget_mark(mark, p["holder"])
    result["changed"] = result["released"] or result.get("forgot_mark", False)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            holder=dict(type="dict", required=True),
            state=dict(
                type="str", choices=["locked", "inspected", "unlocked", "marked", "unmarked", "read"], default="locked"
            ),
            take_over=dict(type="dict"),
            mark=dict(type="dict"),
            forget_mark=dict(type="bool", default=False),
        ),
        required_if=[("state", "marked", ["mark"])],
        supports_check_mode=True,
    )
    p = module.params
    if not p["holder"]:
        module.fail_json(msg="holder is empty: give this run's identity ('<version>' | beamops.deploy.deploy_holder)")
    lock, mark = lk.paths(p["root"])
    try:
        if p["state"] == "read":
            result = {"changed": False, "holder": lk.read_holder(lock), "drained": lk.read_mark(mark)}
        elif p["state"] in ("locked", "inspected"):
            result = _locked(p, lock, mark, module.check_mode)
        elif p["state"] == "unlocked":
            result = _unlocked(p, lock, mark, module.check_mode)
        elif p["state"] == "marked":
            if not module.check_mode:
                lk.write_mark(mark, dict(p["mark"], by=p["holder"]))
            result = {"changed": True}
        else:
            result = {"changed": lk.read_mark(mark) is not None}
            if result["changed"] and not module.check_mode:
                lk.drop_mark(mark)
    except lk.LockError as exc:
        module.fail_json(msg=str(exc), lock_path=lock)
    module.exit_json(lock_path=lock, **result)


if __name__ == "__main__":
    main()
