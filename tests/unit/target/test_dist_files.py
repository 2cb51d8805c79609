# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files _dist reads for a node's name and cookie: FIFOs are refused at once, a file the user
cannot read is said to be so (not taken for a file without a name), and a -setcookie value is never
part of a message, whatever it holds."""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _dist


def within(seconds: float, func, *args):
    """func(*args) in a thread: its result, or the exception it raised; fails when it takes longer."""
    out: dict = {}

    def run():
        try:
            out["value"] = func(*args)
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{func.__name__} still blocked after {seconds} s"
    return out.get("error", out.get("value"))


@pytest.fixture
def fifo_at():
    """Makes a FIFO at a path; at the end, a reader still blocked on it is let go."""
    made = []

    def make(path) -> str:
        os.mkfifo(path)
        made.append(str(path))
        return str(path)

    yield make
    for path in made:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def relx(root, vm_args="-sname app\n-setcookie app_cookie\n", version="0.1.0") -> str:
    (root / "releases" / version).mkdir(parents=True)
    if vm_args is not None:
        (root / "releases" / version / "vm.args").write_text(vm_args)
    return str(root)


def mix(root, version="0.1.0") -> str:
    relx(root, vm_args="+K true\n", version=version)
    (root / "releases" / "COOKIE").write_text("MIXCOOKIE")
    return str(root)


# --- FIFOs --------------------------------------------------------------------------------------


def test_fifo_at_releases_cookie_is_noted_not_read(tmp_path, fifo_at):
    release = mix(tmp_path)
    os.remove(tmp_path / "releases" / "COOKIE")
    path = fifo_at(tmp_path / "releases" / "COOKIE")
    cookies, notes = within(3, _dist.discover_cookies, release, "app", ["0.1.0"], None, None, str(tmp_path))
    assert cookies == []
    assert any(f"{path} is not a regular file (a FIFO)" in note for note in notes), notes


def test_fifo_at_vm_args_is_named(tmp_path, fifo_at):
    release = relx(tmp_path, vm_args=None)
    path = fifo_at(tmp_path / "releases" / "0.1.0" / "vm.args")
    raised = within(3, _dist.discover_node_name, release, "app", ["0.1.0"])
    assert isinstance(raised, _dist.DistError)
    assert f"{path} is not a regular file (a FIFO)" in str(raised) and "node_name" in str(raised)


def test_fifo_named_by_args_file_is_named(tmp_path, fifo_at):
    path = fifo_at(tmp_path / "extra.args")
    release = relx(tmp_path, vm_args=f"-args_file {path}\n-sname app\n")
    raised = within(3, _dist.discover_node_name, release, "app", ["0.1.0"])
    assert isinstance(raised, _dist.DistError) and f"{path} is not a regular file" in str(raised)


def test_fifo_at_env_sh_is_named(tmp_path, fifo_at):
    release = mix(tmp_path)
    path = fifo_at(tmp_path / "releases" / "0.1.0" / "env.sh")
    raised = within(3, _dist.discover_node_name, release, "app", ["0.1.0"])
    assert isinstance(raised, _dist.DistError) and f"{path} is not a regular file (a FIFO)" in str(raised)
    cookies, notes = within(3, _dist.discover_cookies, release, "app", ["0.1.0"], None, None, str(tmp_path))
    assert [c.source for c in cookies] == ["release_cookie_file"]
    assert any(f"{path} is not a regular file" in note for note in notes), notes


def test_fifo_as_cookie_file_option_raises_oserror(tmp_path, fifo_at):
    path = fifo_at(tmp_path / "cookie")
    raised = within(3, _dist.discover_cookies, str(tmp_path), "app", [], None, path)
    assert isinstance(raised, OSError) and f"{path} is not a regular file" in str(raised)


# --- a vm.args the user cannot read ---------------------------------------------------------------


def as_unprivileged(func, *args):
    """func(*args) as a user without rights on the files: `nobody` in a child process when this runs
    as root (root reads every file), else here. Returns its result, or the exception's text."""
    if os.geteuid() != 0:
        try:
            return func(*args)
        except Exception as exc:  # noqa: BLE001 - the test looks at what was raised
            return f"{type(exc).__name__}: {exc}"
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, answer through the pipe, never return into pytest
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            try:
                answer = func(*args)
            except Exception as exc:  # noqa: BLE001 - sent back as text
                answer = f"{type(exc).__name__}: {exc}"
            os.write(write_end, pickle.dumps(answer))
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return pickle.loads(b"".join(chunks))


@pytest.fixture
def open_tree():
    """A directory everyone may enter (pytest's tmp_path is root's own when the tests run as root)."""
    path = tempfile.mkdtemp(prefix="beamops-dist-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_vm_args_says_so_and_by_whom(open_tree):
    release = relx(Path(open_tree))
    for part in ("releases", "releases/0.1.0"):
        os.chmod(os.path.join(open_tree, part), 0o755)
    vm_args = os.path.join(open_tree, "releases", "0.1.0", "vm.args")
    os.chmod(vm_args, 0)
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    said = as_unprivileged(_dist.discover_node_name, release, "app", ["0.1.0"])
    assert isinstance(said, str) and said.startswith("DistError: "), said
    assert f"{vm_args} cannot be read by user {user} (permission denied)" in said
    assert "become_user" in said and "node_name" in said and "no -sname or -name" not in said


def test_unreadable_vm_args_with_a_readable_src_names_the_node(open_tree):
    """relx writes releases/<vsn>/vm.args from vm.args.src at each start, under the unit's umask (0600
    with UMask=0077): the readable vm.args.src still names the node for another user."""
    release = relx(Path(open_tree), vm_args="-sname app_x\n")
    for part in ("releases", "releases/0.1.0"):
        os.chmod(os.path.join(open_tree, part), 0o755)
    vm_args = os.path.join(open_tree, "releases", "0.1.0", "vm.args")
    with open(vm_args + ".src", "w") as handle:
        handle.write("-sname app_x\n")
    os.chmod(vm_args + ".src", 0o644)
    os.chmod(vm_args, 0o600 if os.geteuid() == 0 else 0)
    said = as_unprivileged(_dist.discover_node_name, release, "app", ["0.1.0"])
    assert isinstance(said, tuple) and said[0] == "-sname" and said[1].startswith("app_x@"), said


# --- -setcookie is never printed ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["`cat /etc/secret-A1`", "$(cat /etc/secret-A1)", "${SECRET_A1}", "pre$(x)A1", "A1`"],
)
def test_setcookie_expression_is_noted_without_its_value(tmp_path, value):
    release = relx(tmp_path, vm_args=f"-sname app\n-setcookie {value}\n")
    cookies, notes = _dist.discover_cookies(release, "app", ["0.1.0"], None, None, str(tmp_path))
    assert cookies == []
    vm_args = os.path.join(release, "releases", "0.1.0", "vm.args")
    assert f"-setcookie in {vm_args} is a shell expression resolved only when the node starts" in notes[0]
    assert all("A1" not in note and value not in note for note in notes), notes
