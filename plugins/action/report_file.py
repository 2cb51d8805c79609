# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of beamops.deploy.report_file: the strategies' report files, written in this
process (no module is sent anywhere, so no interpreter starts per write)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from ansible.plugins.action import ActionBase

STATES = ("file", "directory", "absent")


def _same_file(path: str, data: bytes, mode: int) -> bool | None:
    """Whether the regular file at path (never through a symlink) holds data: None when it does not, or
    when something else is there; False when it does with mode already; True when only its mode was changed
    (through the descriptor: a symlink put in its place meanwhile is never followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # none, a symlink (ELOOP), no permission: written anew
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            chunks.append(chunk)
        if b"".join(chunks) != data:
            return None
        if stat.S_IMODE(st.st_mode) == mode:
            return False
        os.fchmod(fd, mode)
        return True
    finally:
        os.close(fd)


def write_atomically(path: str, content: str, mode: int) -> bool:
    """Write content to path through a temporary file renamed over it; True when the content or the mode
    changed. A symlink at path is replaced by the file, never followed; the mode is set on the temporary
    file before the rename, never on the path."""
    data = content.encode("utf-8")
    same = _same_file(path, data, mode)
    if same is not None:
        return same
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("path", "content", "state", "mode"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        path, state = args.get("path"), args.get("state", "file")
        if not path:
            return dict(result, failed=True, msg="report_file: path is required")
        if state not in STATES:
            return dict(
                result, failed=True, msg=f"report_file: state must be one of {', '.join(STATES)}, got {state!r}"
            )
        if state == "file" and not isinstance(args.get("content"), str):
            return dict(result, failed=True, msg="report_file: state=file needs content (a string)")
        try:
            mode = int(str(args.get("mode", "0644")), 8)
        except ValueError:
            return dict(
                result, failed=True, msg=f"report_file: mode must be octal such as 0644, got {args.get('mode')!r}"
            )
        if not 0 <= mode <= 0o777:
            return dict(
                result,
                failed=True,
                msg=f"report_file: mode {args.get('mode')!r} is refused: a report gets permission bits only "
                "(at most 0777; no setuid, setgid or sticky bit); give a mode such as 0644 or 0600",
            )
        # A relative path is taken from the directory ansible-playbook runs from (lookup run_dir).
        path = os.path.abspath(os.path.expanduser(str(path)))
        result.update(path=path, changed=False)
        if self._task.check_mode:  # a report of what did not happen is not written
            return result
        try:
            if state == "absent":
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                    result["changed"] = True
                elif os.path.lexists(path):
                    os.unlink(path)
                    result["changed"] = True
            elif state == "directory":
                if not os.path.isdir(path):
                    os.makedirs(path, mode=0o755)
                    result["changed"] = True
            else:
                result["changed"] = write_atomically(path, args["content"], mode)
        except OSError as exc:
            return dict(result, failed=True, msg=f"report_file: cannot write {path} on the control node: {exc}")
        return result
