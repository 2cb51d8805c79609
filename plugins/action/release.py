# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of beamops.deploy.release: checksum, conditional upload, then the module."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.beamops.deploy.plugins.module_utils import _release

MODULE = "beamops.deploy.release"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def _fail(self, result: dict, msg: str) -> dict:
        result.update(failed=True, msg=msg, transferred=False)
        return result

    def _remote_sha256(self, path: str, task_vars: dict) -> str | None:
        """SHA-256 of a file on the target, None when there is none (asked through stat)."""
        answer = self._execute_module(
            module_name="ansible.legacy.stat",
            module_args={"path": path, "follow": False, "get_checksum": True, "checksum_algorithm": "sha256"},
            task_vars=task_vars,
        )
        if answer.get("failed"):
            raise AnsibleError(f"could not stat {path} on the target: {answer.get('msg')}")
        stat = answer.get("stat", {})
        if not stat.get("exists") or not stat.get("isreg"):
            return None
        return stat.get("checksum")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        state = args.get("state", "present")
        name, version, root = args.get("name"), args.get("version"), args.get("root")
        src = args.pop("src", None)
        # The kept copy's SHA-256 as the caller read it (release_info); without it the target is asked.
        kept_sha256 = args.pop("kept_sha256", None)
        transferred = False
        try:
            if state != "absent" and name and version and root:
                why = _release.validate_version(str(version)) or _release.validate_name(str(name))
                if why:
                    return self._fail(result, f"invalid name or version {name} {version}: {why}")
                if not src and state in ("staged", "patch"):
                    return self._fail(result, f"state={state} of release {name} {version} needs src (a tarball)")
            if state != "absent" and name and version and root and src:
                try:
                    local = self._find_needle("files", src)
                except AnsibleError as exc:
                    return self._fail(result, f"release tarball {src} not found on the controller: {exc}")
                try:
                    sha = _release.sha256_file(local)
                except OSError as exc:  # a FIFO or a directory named as the tarball, no permission
                    return self._fail(result, f"release tarball {local} cannot be read on the controller: {exc}")
                expected = args.get("checksum")
                if expected and str(expected).lower() != sha:
                    return self._fail(
                        result,
                        f"checksum mismatch of release {name} {version} in {local}: sha256 is {sha}, "
                        f"not {expected}; nothing was sent, check the artifact or the checksum",
                    )
                kept = os.path.join(str(root), ".beamops", "tarballs", f"{name}-{version}.tar.gz")
                remote = None
                known = kept_sha256 if kept_sha256 is not None else self._remote_sha256(kept, task_vars)
                if known == sha:
                    remote = kept
                elif not self._play_context.check_mode:
                    remote = self._connection._shell.join_path(self._connection._shell.tmpdir, "release.tar.gz")
                    self._transfer_file(local, remote)
                    self._fixup_perms2((self._connection._shell.tmpdir, remote))
                    transferred = True
                # The module gets the tarball's path on the target (none in check mode before a
                # transfer) and the controller's SHA-256, which it checks again before unpacking.
                args.update(src=remote, checksum=sha)
            answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
            if transferred and isinstance(answer.get("msg"), str):
                # Name the tarball as the user knows it, not by its temporary copy on the target.
                answer["msg"] = answer["msg"].replace(remote, f"{local} (sent to the target)")
            result.update(answer)
        except AnsibleError as exc:
            return self._fail(result, str(exc))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result["transferred"] = transferred
        return result
