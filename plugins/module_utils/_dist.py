# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Erlang distribution details of a release: its node name, its cookie, epmd, safe Erlang literals.

Private to the collection. Everything here reads files the release's own start script reads, the
way that script reads them, and never evaluates shell or Erlang code found in them: a value that
only the start script could compute (a ${VAR}, a $(command)) is reported as unresolved, with where
it was found, so that the user can give it as a module option instead.

Cookie discovery order (the first source that exists is tried first; later ones follow):
  1. the module options `cookie` or `cookie_file` (then nothing else is tried);
  2. RELEASE_COOKIE set literally in releases/<vsn>/env.sh (mix: env.sh overrides releases/COOKIE);
  3. releases/COOKIE (mix); moved after 5. when env.sh sets RELEASE_COOKIE from an expression, since
     the start script then does not use that file;
  4. -setcookie in the vm.args the release boots with (relx: releases/<vsn>/vm.args, or the file
     relx generated from vm.args.src at the last start);
  5. ~/.erlang.cookie of the user the task runs as.
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import time
from dataclasses import dataclass, field

from ansible_collections.beamops.deploy.plugins.module_utils import _fs, _net

EPMD_PORT = 4369
# The most bytes read from epmd for its list of names: a line per node, a few dozen bytes each.
EPMD_ANSWER_LIMIT = 64 * 1024
NAME_PART = re.compile(r"[A-Za-z0-9_-]+")
HOST_PART = re.compile(r"[A-Za-z0-9_.-]+")
SHELL_ASSIGNMENT = re.compile(r"(?P<indent>\s*)(?:export\s+)?(?P<var>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
SHELL_EMBEDDED_ASSIGNMENT = re.compile(r"(?:^|[\s;(&|])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
SHELL_REFERENCE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}$`]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# Flags of the release's vm.args that decide how a node is reached; passed on to the control node.
DIST_FLAGS = ("-proto_dist", "-start_epmd", "-epmd_module", "-erl_epmd_port")


class DistError(Exception):
    """The node's name cannot be known from the release: the message says where to give it."""


class UnreadableFile(OSError):
    """A file the start script reads that cannot be read here: its message says which and why."""


def _user() -> str:
    """The name of the user this process reads files as."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _present(path: str) -> bool:
    """True when something is at path, even what cannot be read (a FIFO, a file of another user)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def cannot_read(path: str, exc: OSError) -> str:
    """Why a file at path was not read, for a message: not a regular file, permission, or other."""
    if isinstance(exc, (_fs.UnsafeFile, UnreadableFile)):
        return str(exc)
    where = exc.filename or path
    if isinstance(exc, PermissionError):
        return (
            f"{where} cannot be read by user {_user()} (permission denied): run the task as a user "
            "that can read it (become_user, usually the release's owner), or make it readable"
        )
    return f"{where} cannot be read ({exc.strerror or exc})"


def _read_text(path: str) -> str:
    """A small text file the start script reads, through _fs: a FIFO or a device is never opened for long."""
    return _fs.read_text(path, errors="replace")


def deprecated_alias(old: str) -> list[dict]:
    """An option's old name, kept as a deprecated alias until 1.0.0 (every module of the collection)."""
    return [{"name": old, "version": "1.0.0", "collection_name": "beamops.deploy"}]


def seconds_option(old: str, kind: str, default: float) -> dict:
    """A time option named with its unit, <old>_s: its old name `old` still works, as a deprecated alias."""
    return {"type": kind, "default": default, "aliases": [old], "deprecated_aliases": deprecated_alias(old)}


def node_argument_spec() -> dict:
    """Options shared by the modules that talk to a node (doc fragment beamops.deploy.node)."""
    return {
        "node_name": {"type": "str"},
        "cookie": {"type": "str", "no_log": True},
        "cookie_file": {"type": "path"},
    }


# --- Erlang literals ------------------------------------------------------------------------


def _escape(value: str, quote: str) -> str:
    out = []
    for char in value:
        if char in (quote, "\\") or not " " <= char <= "~":
            out.append(f"\\x{{{ord(char):X}}}")
        else:
            out.append(char)
    return "".join(out)


def erl_atom(value: str) -> str:
    """A quoted Erlang atom literal for any text: quotes, backslashes and control characters escaped."""
    return f"'{_escape(value, chr(39))}'"


def erl_quoted(value: str) -> str:
    """A double-quoted Erlang string literal for any text, escaped like erl_atom."""
    return f'"{_escape(value, chr(34))}"'


# --- host names -----------------------------------------------------------------------------


def short_host() -> str:
    """The host part erl gives -sname nodes: the host name up to its first dot."""
    return socket.gethostname().split(".")[0]


def long_host() -> str:
    """The host part erl gives -name nodes: the fully qualified name when the resolver knows one."""
    fqdn = socket.getfqdn()
    return fqdn if "." in fqdn else socket.gethostname()


def check_node_name(name: str, where: str) -> str:
    """name@host with the characters erl accepts, else DistError naming where it came from."""
    node, sep, host = name.partition("@")
    if not (sep and NAME_PART.fullmatch(node) and HOST_PART.fullmatch(host)):
        raise DistError(
            f"node name {name!r} from {where} is not name@host with letters, digits, '_' and '-' "
            "(and '.' in the host): give the node's full name with node_name"
        )
    return name


def complete_node_name(flag: str, name: str, where: str) -> tuple[str, str]:
    """('-sname'|'-name', name@host): a name without host gets the host erl would add."""
    if "@" not in name:
        name = f"{name}@{short_host() if flag == '-sname' else long_host()}"
    return flag, check_node_name(name, where)


def flag_for_given_name(name: str) -> tuple[str, str]:
    """A node name given by the user: long names have a dotted host (an FQDN or an IPv4 address)."""
    if "@" not in name:
        return complete_node_name("-sname", name, "node_name")
    host = name.partition("@")[2]
    return ("-name" if "." in host else "-sname"), check_node_name(name, "node_name")


# --- vm.args ----------------------------------------------------------------------------------


def split_args(text: str) -> list[str]:
    """Arguments of an erl args file: '#' starts a comment to the end of the line, '\\' quotes a character."""
    args: list[str] = []
    current: list[str] = []
    in_word = comment = escaped = False
    for char in text:
        if comment:
            comment = char != "\n"
            continue
        if escaped:
            current.append(char)
            in_word, escaped = True, False
        elif char == "\\":
            escaped = True
        elif char == "#":
            comment = True
        elif char.isspace():
            if in_word:
                args.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
    if in_word:
        args.append("".join(current))
    return args


def read_args_file(path: str, seen: frozenset = frozenset()) -> list[str]:
    """The arguments of an args file, with the -args_file it names read in place (as erl does).

    Raises OSError (_fs.UnsafeFile for a FIFO, a device or a directory) when it or an included file
    that exists cannot be read.
    """
    args = split_args(_read_text(path))
    out: list[str] = []
    index = 0
    while index < len(args):
        if args[index] == "-args_file" and index + 1 < len(args):
            included = args[index + 1]
            if included not in seen and len(seen) < 8 and _present(included):
                out.extend(read_args_file(included, seen | {path}))
            index += 2
            continue
        out.append(args[index])
        index += 1
    return out


@dataclass
class VmArgs:
    """The vm.args a release boots with: path, arguments, and whether ${VAR}s are still in it."""

    path: str | None = None
    args: list[str] = field(default_factory=list)
    unsubstituted: bool = False
    error: str | None = None  # why the vm.args at path could not be read (then args is empty)

    def value(self, flag: str) -> str | None:
        for index, arg in enumerate(self.args[:-1]):
            if arg == flag:
                return self.args[index + 1]
        return None

    def dist_args(self) -> list[str]:
        out: list[str] = []
        for flag in DIST_FLAGS:
            value = self.value(flag)
            if value is not None:
                out.extend([flag, value])
        return out

    def uses_epmd(self) -> bool:
        """False when the node skips epmd (-start_epmd false, its own epmd module or a fixed port)."""
        return self.value("-start_epmd") != "false" and not any(self.value(f) for f in DIST_FLAGS[2:])


def vm_args_in_use(release_path: str, versions: list[str]) -> VmArgs:
    """The vm.args relx's or mix's start script passes to erl.

    relx takes <root>/vm.args when it exists, else releases/<vsn>/vm.args; from a vm.args.src next
    to it, the script writes that vm.args at every start, so it is what the running node was started
    with. Before the first start only the .src exists: its ${VAR}s are then unresolved.

    The first of these files that exists is the one used: when it cannot be read (another user's
    file, a FIFO), the VmArgs has no arguments and its error says why, rather than another file
    standing in for it.
    """
    candidates = []
    for version in versions:
        rel_dir = os.path.join(release_path, "releases", version)
        base = os.path.join(release_path, "vm.args")
        if not _present(base):
            base = os.path.join(rel_dir, "vm.args")
        candidates.extend(((base, False), (base + ".src", True)))
    candidates.append((os.path.join(release_path, "releases", "vm.args"), False))
    denied = None
    for path, unsubstituted in candidates:
        if not _present(path):
            continue
        try:
            return VmArgs(path, read_args_file(path), unsubstituted)
        except PermissionError as exc:
            # A vm.args the start script wrote under a strict umask (0600, the node's user): the next
            # candidate (its vm.args.src) may name the node as well; said only when none can be read.
            denied = denied or VmArgs(path, [], unsubstituted, cannot_read(path, exc))
        except OSError as exc:
            return VmArgs(path, [], unsubstituted, cannot_read(path, exc))
    return denied or VmArgs()


def unresolved(value: str) -> bool:
    return "${" in value or "$(" in value or "`" in value


# --- env.sh (mix) -------------------------------------------------------------------------------


@dataclass
class EnvSetting:
    """One variable an env.sh sets: its value when it is literal, else None, and where it is set."""

    value: str | None
    line: int
    conditional: bool


def shell_value(raw: str, known: dict[str, str]) -> str | None:
    """The value of a shell word when it needs no evaluation, else None.

    Single quotes are literal; double quotes and bare words may use the variables the start script
    sets before it sources env.sh (known) and ${VAR:-literal} defaults.
    """
    raw = raw.strip()
    if raw.startswith("'"):
        return raw[1:-1] if len(raw) > 1 and raw.endswith("'") and "'" not in raw[1:-1] else None
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"') or '"' in raw[1:-1]:
            return None
        raw = raw[1:-1]
    elif re.search(r"\s", raw):
        return None

    def substitute(match):
        name = match.group("braced") or match.group("bare")
        if name in known:
            return known[name]
        if match.group("default") is not None:
            return match.group("default")
        raise LookupError(name)

    try:
        value = SHELL_REFERENCE.sub(substitute, raw)
    except LookupError:
        return None
    if any(char in value for char in "$`\\;&|<>()"):
        return None
    return value


def parse_env_sh(text: str, known: dict[str, str]) -> dict[str, EnvSetting]:
    """Variables an env.sh assigns, the last assignment winning.

    Only unindented assignments that start a line count as unconditional; an indented one, or one
    after other words on its line, sits in an if, a case or a && list, so its value is unknown here
    (None, conditional=True).
    """
    settings: dict[str, EnvSetting] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        match = SHELL_ASSIGNMENT.match(line)
        if not match:
            # An assignment after other words (case branch, `a && B=c`): set only under a condition.
            for var in SHELL_EMBEDDED_ASSIGNMENT.findall(line):
                settings[var] = EnvSetting(None, number, True)
            continue
        conditional = bool(match.group("indent"))
        value = None if conditional else shell_value(match.group("value"), known)
        settings[match.group("var")] = EnvSetting(value, number, conditional)
    return settings


def read_env_sh(release_path: str, name: str, versions: list[str]) -> tuple[str | None, dict[str, EnvSetting]]:
    """(path, settings) of the env.sh of the first version that has one (mix releases).

    Raises UnreadableFile when that env.sh exists but cannot be read (permission, a FIFO).
    """
    for version in versions:
        path = os.path.join(release_path, "releases", version, "env.sh")
        try:
            text = _read_text(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise UnreadableFile(cannot_read(path, exc)) from None
        known = {"RELEASE_NAME": name, "RELEASE_VSN": version, "RELEASE_ROOT": release_path}
        return path, parse_env_sh(text, known)
    return None, {}


# --- node name ------------------------------------------------------------------------------------


def discover_node_name(release_path: str, name: str, versions: list[str]) -> tuple[str, str]:
    """('-sname'|'-name', name@host) as the release's start script names the node."""
    vm_args = vm_args_in_use(release_path, versions)
    if vm_args.error:
        raise DistError(f"{vm_args.error}; the node's name may be set there, so give it with node_name")
    for flag in ("-sname", "-name"):
        value = vm_args.value(flag)
        if value is None:
            continue
        if unresolved(value):
            raise DistError(
                f"{vm_args.path} sets {flag} {value}, which the start script resolves only when the node "
                "starts (it has not written the resolved vm.args here): give the node's name with node_name"
            )
        return complete_node_name(flag, value, vm_args.path)
    try:
        env_path, env = read_env_sh(release_path, name, versions)
    except UnreadableFile as exc:
        raise DistError(f"{exc}; the node's name may be set there, so give it with node_name") from None
    if env_path is None:
        raise DistError(
            f"no -sname or -name in {vm_args.path or 'the vm.args of ' + release_path} and no env.sh "
            "of a mix release: give the node's name with node_name"
        )
    values = {}
    for var, default in (("RELEASE_DISTRIBUTION", "sname"), ("RELEASE_NODE", name)):
        setting = env.get(var)
        if setting is not None and setting.value is None:
            how = "inside a condition" if setting.conditional else "from an expression"
            raise DistError(
                f"{env_path} line {setting.line} sets {var} {how}, which only the start script "
                "can evaluate: give the node's name with node_name"
            )
        values[var] = setting.value if setting else default
    distribution = values["RELEASE_DISTRIBUTION"]
    if distribution not in ("sname", "name"):
        raise DistError(
            f"{env_path} sets RELEASE_DISTRIBUTION={distribution}: the node runs without distribution "
            "and cannot be reached; set it to sname or name"
        )
    return complete_node_name(f"-{distribution}", values["RELEASE_NODE"], env_path)


# --- cookie -----------------------------------------------------------------------------------------


@dataclass
class Cookie:
    """A cookie to try and where it comes from; the value never appears in repr() or results."""

    source: str
    path: str | None
    value: str = field(repr=False)

    def describe(self) -> str:
        """Where the cookie comes from, in words for a message."""
        return {
            "cookie": "option cookie",
            "cookie_file": f"option cookie_file {self.path}",
            "env_sh": f"RELEASE_COOKIE in {self.path}",
            "vm_args": f"-setcookie in {self.path}",
        }.get(self.source, self.path or self.source)


def user_home() -> str:
    return os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def _read_cookie_file(path: str) -> str | None:
    """The cookie in a file, None when it is empty; OSError (_fs.UnsafeFile for a FIFO) as _fs raises."""
    return _read_text(path).strip() or None


def discover_cookies(
    release_path: str,
    name: str,
    versions: list[str],
    cookie: str | None = None,
    cookie_file: str | None = None,
    home: str | None = None,
) -> tuple[list[Cookie], list[str]]:
    """(cookies to try in order, notes on sources looked at and not used), never creating a file.

    With the cookie or cookie_file option only that one is tried. Raises OSError when cookie_file
    cannot be read.
    """
    if cookie:
        return [Cookie("cookie", None, cookie)], []
    if cookie_file:
        value = _read_cookie_file(cookie_file)
        if value is None:
            raise OSError(f"cookie_file {cookie_file} is empty")
        return [Cookie("cookie_file", cookie_file, value)], []
    found: list[Cookie] = []
    notes: list[str] = []
    late: list[Cookie] = []
    try:
        env_path, env = read_env_sh(release_path, name, versions)
    except UnreadableFile as exc:
        env_path, env = None, {}
        notes.append(str(exc))
    setting = env.get("RELEASE_COOKIE")
    if setting is not None and setting.value:
        found.append(Cookie("env_sh", env_path, setting.value))
    elif setting is not None:
        notes.append(
            f"{env_path} line {setting.line} sets RELEASE_COOKIE "
            f"{'inside a condition' if setting.conditional else 'from an expression'} that is not evaluated here"
        )
    release_cookie = os.path.join(release_path, "releases", "COOKIE")
    try:
        value = _read_cookie_file(release_cookie)
        if value:
            (late if setting is not None else found).append(Cookie("release_cookie_file", release_cookie, value))
    except FileNotFoundError:
        pass
    except OSError as exc:
        notes.append(cannot_read(release_cookie, exc))
    vm_args = vm_args_in_use(release_path, versions)
    if vm_args.error:
        notes.append(vm_args.error)
    value = vm_args.value("-setcookie")
    if value is not None and unresolved(value):
        # Never the value: a cookie is a secret, even one written as a shell expression.
        notes.append(
            f"-setcookie in {vm_args.path} is a shell expression resolved only when the node starts "
            "(no resolved vm.args was found)"
        )
    elif value is not None:
        found.append(Cookie("vm_args", vm_args.path, value))
    user_cookie = os.path.join(home or user_home(), ".erlang.cookie")
    try:
        value = _read_cookie_file(user_cookie)
        if value:
            found.append(Cookie("user_cookie_file", user_cookie, value))
    except FileNotFoundError:
        notes.append(f"{user_cookie} does not exist")
    except OSError as exc:
        notes.append(cannot_read(user_cookie, exc))
    unique: list[Cookie] = []
    for candidate in found + late:
        if all(candidate.value != seen.value for seen in unique):
            unique.append(candidate)
    return unique, notes


# --- epmd ----------------------------------------------------------------------------------------------


def epmd_port() -> int:
    try:
        return int(os.environ.get("ERL_EPMD_PORT") or EPMD_PORT)
    except ValueError:
        return EPMD_PORT


def epmd_names(host: str, port: int | None = None, timeout: float = 2.0, option: str = "timeout_s") -> dict[str, int]:
    """Node names epmd on host has registered, with their distribution ports (NAMES_REQ).

    ``timeout`` bounds the whole exchange (connect, request, answer), and at most EPMD_ANSWER_LIMIT
    bytes are read: whatever listens on the epmd port and answers slowly or without end raises
    OSError naming host:port and ``option``, the module option the timeout comes from. Raises
    OSError when epmd does not answer.
    """
    port = port or epmd_port()
    peer = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(_net.time_left(deadline))
            conn.sendall(b"\x00\x01n")
            data = _net.read_to_close(conn, deadline, EPMD_ANSWER_LIMIT)
    except _net.AnswerTooLong:
        raise OSError(
            f"epmd at {peer} sent more than {EPMD_ANSWER_LIMIT // 1024} KiB for its list of names, "
            "far more than a host's epmd has: it is not a working epmd; stop what listens on "
            f"port {port}, or point ERL_EPMD_PORT at the real epmd"
        ) from None
    except _net.TIMEOUTS:
        raise TimeoutError(
            f"epmd at {peer} did not answer in full within {timeout:g} s (from {option}): it is not a "
            f"working epmd, or the host is overloaded; check what listens on port {port}"
        ) from None
    if len(data) < 4:
        raise OSError(f"epmd at {peer} closed the connection without an answer")
    names = {}
    for line in data[4:].decode("utf-8", "replace").splitlines():
        match = re.match(r"name (\S+) at port (\d+)", line)
        if match:
            names[match.group(1)] = int(match.group(2))
    return names
