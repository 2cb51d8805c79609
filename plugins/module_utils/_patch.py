# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hot patches: changed modules loaded into a running node, what they replaced kept (target side,
standard library only).

A patch is kept under the release root's deploy state, beside the history (see _release)::

    .beamops/patches/<id>/patch.json      what was loaded, where, from what, and its state
    .beamops/patches/<id>/new/<mod>.beam  the code the patch loads
    .beamops/patches/<id>/old/<mod>.beam  the code it replaced (what a rollback loads back)

patch.json (``format`` 1)::

    {"format": 1, "id": "...", "at": <epoch s>,
     "state": "loading" | "applied" | "failed" | "rolled_back" | "dropped" (the node no longer runs it),
     "persisted": false, "modules": {"mod": {"file": "<beam the node loaded it from>",
     "md5_before": "<hex>", "md5_after": "<hex>"}}, "processes": [{"name": "...", "module": "...",
     "extra": "<Erlang term>"}]}

The node is asked through _otp.Node.call: every question is one fun applied on the node, which
reads the beams from the files named here (they never travel in a command line), so that the
suspension of the named processes, the load, their code_change and their resumption follow each
other on the node without a round trip in between.
This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import struct
import time

from ansible_collections.beamops.deploy.plugins.module_utils import _dist, _fs, _release

PATCH_FORMAT = 1
KEEP_PATCHES = 20  # the oldest records beyond these are removed when a new patch is kept
BEAM_LIMIT = 64 * 1024 * 1024  # far above any module's beam
_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{8}$")
_MODULE_RE = re.compile(r"^[a-z][A-Za-z0-9_@]{0,254}$")


class PatchError(Exception):
    """A patch that cannot be made as given: the message names the option and the fix."""


# --- the beams given ------------------------------------------------------------------------------
def _compact_length(data: bytes, pos: int) -> tuple[int, int]:
    """A non-negative integer in the compact term encoding of OTP 28's atom chunk: (value, next pos)."""
    first = data[pos]
    if not first & 0x08:
        return first >> 4, pos + 1
    if not first & 0x10:
        return ((first >> 5) << 8) | data[pos + 1], pos + 2
    raise ValueError("an atom longer than 2047 bytes")


def beam_module(data: bytes) -> str:
    """The name of the module a BEAM file holds (the first atom of its atom table).

    ValueError when ``data`` is not a BEAM file (IFF ``FOR1``/``BEAM`` with an atom chunk). A gzip-compressed one
    (what relx writes with its default compression, and the loader reads) is read through."""
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(BEAM_LIMIT + 1)
        except (OSError, EOFError) as exc:
            raise ValueError(f"a damaged gzip-compressed BEAM file ({exc})") from None
        if len(data) > BEAM_LIMIT:
            raise ValueError(f"larger than {BEAM_LIMIT} bytes once uncompressed")
    if len(data) < 12 or data[:4] != b"FOR1" or data[8:12] != b"BEAM":
        raise ValueError("not a BEAM file (no FOR1/BEAM header)")
    end = min(len(data), 8 + struct.unpack(">I", data[4:8])[0])
    pos = 12
    while pos + 8 <= end:
        kind, size = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if kind in (b"AtU8", b"Atom") and len(body) >= 5:
            (count,) = struct.unpack(">i", body[:4])
            if count < 0:  # OTP 28: lengths in the compact term encoding
                length, at = _compact_length(body, 4)
            else:
                length, at = body[4], 5
            name = body[at : at + length].decode("utf-8" if kind == b"AtU8" else "latin-1")
            if not name:
                break
            return name
        pos += 8 + ((size + 3) & ~3)
    raise ValueError("a BEAM file without an atom table")


def read_beams(paths: list[str], option: str) -> dict[str, str]:
    """{module: path} of the given beams, each checked to be a readable BEAM file; PatchError naming
    ``option`` and the path otherwise, or when two of them hold the same module."""
    found: dict[str, str] = {}
    for path in paths:
        try:
            module = beam_module(_fs.read_bytes(path, BEAM_LIMIT))
        except (OSError, ValueError) as exc:
            raise PatchError(
                f"{option}: {path} cannot be used ({getattr(exc, 'strerror', None) or exc}): give the path of a "
                "compiled module (.beam) on the node's host"
            ) from None
        if module in found:
            raise PatchError(f"{option}: {found[module]} and {path} both hold module {module}: give each module once")
        found[module] = os.path.abspath(path)
    return found


# --- records ------------------------------------------------------------------------------------
def new_id(modules: dict[str, str]) -> str:
    """A sortable id: the UTC time and a digest of the modules and the sources loaded."""
    seed = json.dumps(sorted(modules.items())) + str(time.time_ns())
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + hashlib.sha256(seed.encode()).hexdigest()[:8]


def read_records(layout: _release.Layout) -> list[dict]:
    """The patch records under the root, oldest first (by their time); damaged ones are skipped (their
    files stay)."""
    try:
        names = sorted(n for n in os.listdir(layout.patches) if _ID_RE.match(n))
    except OSError:
        return []
    records = []
    for name in names:
        try:
            record = json.loads(_fs.read_text(os.path.join(layout.patches, name, "patch.json")))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("format") == PATCH_FORMAT and record.get("id") == name:
            records.append(record)
    # Two patches within one second: their ids sort by digest, their times do not.
    return sorted(records, key=lambda r: (r.get("at") if isinstance(r.get("at"), (int, float)) else 0, r["id"]))


def record_dir(layout: _release.Layout, patch_id: str) -> str:
    return os.path.join(layout.patches, patch_id)


def beam_path(layout: _release.Layout, patch_id: str, which: str, module: str) -> str:
    return os.path.join(record_dir(layout, patch_id), which, f"{module}.beam")


def write_record(layout: _release.Layout, record: dict) -> None:
    path = os.path.join(record_dir(layout, record["id"]), "patch.json")
    _release.write_atomic(path, json.dumps(record, indent=2, sort_keys=True).encode() + b"\n", 0o644)


def kept_beam(layout: _release.Layout, md5: str) -> tuple[str, str] | None:
    """(record id, path) of a kept beam whose loaded md5 is ``md5`` (newest record first), or None."""
    for record in reversed(read_records(layout)):
        for module, entry in record.get("modules", {}).items():
            for which, key in (("new", "md5_after"), ("old", "md5_before")):
                path = beam_path(layout, record["id"], which, module)
                if entry.get(key) == md5 and os.path.isfile(path):
                    return record["id"], path
    return None


def settle_records(layout: _release.Layout, loaded: dict[str, str]) -> list[str]:
    """Mark ``dropped`` the applied records the node no longer runs, given the md5 it runs of some modules.

    Newest first, each module's chain goes down through the applied records: one whose code is what the
    chain expects is still applied (the chain then expects the code it replaced), one whose code is not (a
    restart dropped it, or a rollback went past it) is dropped. Returns the ids marked."""
    expected = dict(loaded)
    dropped = []
    for record in reversed(read_records(layout)):
        if record.get("state") != "applied":
            continue
        modules = record.get("modules", {})
        touched = [m for m in modules if m in expected and modules[m].get("loaded", True)]
        if all(modules[m].get("md5_after") == expected[m] for m in touched):
            expected.update({m: modules[m].get("md5_before") for m in touched})
            continue
        record["state"] = "dropped"
        write_record(layout, record)
        dropped.append(record["id"])
    return dropped


def prune_records(layout: _release.Layout, keep: int = KEEP_PATCHES) -> list[str]:
    """Remove the oldest records beyond ``keep``, never one in state applied. Returns the ids removed."""
    records = read_records(layout)
    removable = [r["id"] for r in records if r.get("state") != "applied"]
    removed = []
    for patch_id in removable[: max(0, len(records) - keep)]:
        _release.remove_path(record_dir(layout, patch_id))
        removed.append(patch_id)
    return removed


# --- questions to the node ----------------------------------------------------------------------
def _list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


# Funs shared by the questions: hex of an md5, a file's content (a read error is thrown, named), the
# vsn a module's code declares (what code_change is given), an Erlang term read from text.
_COMMON = (
    'Hex = fun(B) -> lists:flatten([io_lib:format("~2.16.0b", [X]) || <<X>> <= B]) end, '
    'Text = fun(T) -> lists:flatten(io_lib:format("~0p", [T])) end, '
    "Read = fun(P) -> case file:read_file(P) of {ok, Bin} -> Bin; "
    "{error, Why} -> throw({beamops_patch, cannot_read, P, Text(Why)}) end end, "
    # As release_handler reads it: -vsn("1.2") is the string itself, the default vsn a one-item list.
    "VsnOf = fun(Bin) -> case beam_lib:version(Bin) of {ok, {_, V}} -> "
    "case io_lib:printable_list(V) of true -> V; false -> hd(V) end; _ -> undefined end end, "
    'Term = fun(S) -> case erl_scan:string(S ++ ".") of {ok, Toks, _} -> '
    "case erl_parse:parse_term(Toks) of {ok, Tm} -> {ok, Tm}; {error, {_, M1, E1}} -> "
    "{error, lists:flatten(M1:format_error(E1))} end; {error, {_, M2, E2}, _} -> "
    "{error, lists:flatten(M2:format_error(E2))} end end, "
    "Compiler = fun(Info) -> case proplists:get_value(version, Info) of V2 when is_list(V2) -> V2; "
    '_ -> "" end end, '
)


def inspect_body(modules: dict[str, str], processes: list[dict], timeout_ms: int) -> str:
    """What the node runs of each module and what the new beam is, read without changing anything.

    Answer: {beamops_patch_info, OsPid, OtpRelease, CompilerLib, [ModInfo], [ProcInfo]} where ModInfo is
    {Mod, File, Loaded, LoadedMd5, DiskMd5, NewModule, NewMd5, LoadedCompiler, NewCompiler, OldCodeUsers,
    Loadable} and ProcInfo {Name, Pid | undefined, ok | ErrorText}."""
    mods = _list(f"{{{_dist.erl_atom(m)}, {_dist.erl_quoted(p)}}}" for m, p in modules.items())
    procs = _list(f"{{{_dist.erl_atom(p['name'])}, {_dist.erl_quoted(p['extra'])}}}" for p in processes)
    program = (
        "fun() -> " + _COMMON + "ModInfo = fun({M, P}) -> B = Read(P), W = code:which(M), "
        "Loaded = code:is_loaded(M) =/= false, "
        'LoadedMd5 = case Loaded of true -> Hex(M:module_info(md5)); false -> "" end, '
        'DiskMd5 = case is_list(W) of true -> case beam_lib:md5(W) of {ok, {_, D}} -> Hex(D); _ -> "" end; '
        'false -> "" end, '
        "{NewMod, NewMd5} = case beam_lib:md5(B) of {ok, {NM, ND}} -> {NM, Hex(ND)}; "
        "{error, beam_lib, Why} -> {none, Text(Why)} end, "
        "LoadedCompiler = case Loaded of true -> Compiler(M:module_info(compile)); false -> "
        "case is_list(W) andalso beam_lib:chunks(W, [compile_info]) of "
        '{ok, {_, [{compile_info, CI}]}} -> Compiler(CI); _ -> "" end end, '
        "NewCompiler = case beam_lib:chunks(B, [compile_info]) of "
        '{ok, {_, [{compile_info, CI2}]}} -> Compiler(CI2); _ -> "" end, '
        "Users = case erlang:check_old_code(M) of true -> "
        "[pid_to_list(Pp) || Pp <- processes(), erlang:check_process_code(Pp, M)]; false -> [] end, "
        "Loadable = case NewMod =:= M andalso code:prepare_loading([{M, if is_list(W) -> W; true -> P end, B}]) of "
        "{ok, _} -> ok; false -> ok; {error, [{_, R}]} -> Text(R); {error, R2} -> Text(R2) end, "
        "{M, if is_list(W) -> W; true -> atom_to_list(W) end, Loaded, LoadedMd5, DiskMd5, NewMod, NewMd5, "
        "LoadedCompiler, NewCompiler, Users, Loadable} end, "
        "ProcInfo = fun({N, X}) -> Pid = case whereis(N) of undefined -> undefined; Pd -> pid_to_list(Pd) end, "
        "{N, Pid, case Term(X) of {ok, _} -> ok; {error, E} -> E end} end, "
        'CompilerLib = case code:lib_dir(compiler) of L when is_list(L) -> filename:basename(L); _ -> "" end, '
        "try {beamops_patch_info, os:getpid(), erlang:system_info(otp_release), CompilerLib, "
        f"[ModInfo(I) || I <- {mods}], [ProcInfo(I) || I <- {procs}]}} "
        "catch throw:{beamops_patch, _, _, _} = Thrown -> Thrown end end"
    )
    return f"rpc:call(Node, erlang, apply, [{program}, []], {timeout_ms})"


def apply_body(steps: list[tuple[str, str, str, str]], processes: list[dict], direction: str, timeout_ms: int) -> str:
    """Load new code on the node, the named processes suspended around it and changed, in one question.

    ``steps`` are (module, file the node names it by, path of the beam to load, path of the code it runs now);
    ``processes`` are {name, module, extra}; ``direction`` up (a patch) or down (its rollback).

    The patch's own code changes the state both ways, since the code it replaced knows nothing of it. Up: the
    processes are suspended, the modules loaded together (all or none), each process's code_change called with
    the vsn of the code left, every process resumed. Down: each process's code_change is called with
    {down, Vsn} of the code returned to while the patch's code is still loaded, then the old code is loaded,
    and every process resumed. Whatever fails, the processes are resumed: when a code_change fails, the ones
    changed before are changed back by the patch's code and, up, the code that ran before is loaded back.

    Answer: {beamops_patched, [{Name, ok}]}, {beamops_patch_restored, Name, Why, Reload, [{Name, Undo}]},
    {beamops_patch_not_loaded, Why} (nothing changed) or {beamops_patch, What, Where, Why}."""
    specs = _list(
        f"{{{_dist.erl_atom(m)}, {_dist.erl_quoted(f)}, {_dist.erl_quoted(new)}, {_dist.erl_quoted(cur)}}}"
        for m, f, new, cur in steps
    )
    procs = _list(
        f"{{{_dist.erl_atom(p['name'])}, {_dist.erl_atom(p['module'])}, {_dist.erl_quoted(p['extra'])}}}"
        for p in processes
    )
    program = (
        "fun() -> " + _COMMON + f"T = {timeout_ms}, "
        "try Mods = [{M, F, Read(NP), Read(CP)} || {M, F, NP, CP} <- " + specs + "], "
        # Old code a request still runs (one that started before an earlier load) is waited for, within T,
        # rather than loading over it: finish_loading refuses a module whose old code is still there.
        "Purge = fun P(M, Until) -> case code:soft_purge(M) of true -> true; false -> "
        "case erlang:monotonic_time(millisecond) < Until of true -> timer:sleep(20), P(M, Until); "
        "false -> false end end end, "
        "Load = fun(Which) -> Until = erlang:monotonic_time(millisecond) + T, "
        "[Purge(M, Until) || {M, _, _, _} <- Mods], "
        "List = [{M, F, case Which of new -> NB; cur -> CB end} || {M, F, NB, CB} <- Mods], "
        "case code:prepare_loading(List) of {ok, Prep} -> "
        "case code:finish_loading(Prep) of ok -> ok; {error, E} -> {error, Text(E)} end; "
        "{error, E2} -> {error, Text(E2)} end end, "
        # What code_change is given: up, the vsn of the code left; down, {down, vsn of the code returned to};
        # undone, the other way.
        "Arg = fun(M, Way) -> {M, _, NB, CB} = lists:keyfind(M, 1, Mods), "
        "case Way of up -> VsnOf(CB); down -> {down, VsnOf(NB)}; undo_up -> {down, VsnOf(CB)}; "
        "undo_down -> VsnOf(NB) end end, "
        "Procs = [begin {ok, Xt} = Term(X), {N, whereis(N), M, Xt} end || {N, M, X} <- " + procs + "], "
        "case [N || {N, undefined, _, _} <- Procs] of [] -> ok; "
        'Gone -> throw({beamops_patch, not_registered, Gone, ""}) end, '
        "Suspend = fun S([], Done) -> {ok, lists:reverse(Done)}; "
        "S([{N, P, _, _} | Rest], Done) -> case catch sys:suspend(P, T) of ok -> S(Rest, [P | Done]); "
        "Why -> {error, N, Text(Why), lists:reverse(Done)} end end, "
        "Change = fun C([], Done, _) -> {ok, lists:reverse(Done)}; "
        "C([{N, P, M, Xt} = Pr | Rest], Done, Way) -> case catch sys:change_code(P, M, Arg(M, Way), Xt, T) of "
        "ok -> C(Rest, [Pr | Done], Way); Why -> {error, N, Text(Why), lists:reverse(Done)} end end, "
        "Undo = fun(Done, Way) -> [{N, case catch sys:change_code(P, M, Arg(M, Way), Xt, T) of ok -> ok; "
        "U -> Text(U) end} || {N, P, M, Xt} <- lists:reverse(Done)] end, "
        "Patched = fun() -> [code:soft_purge(M) || {M, _, _, _} <- Mods], "
        "{beamops_patched, [{N, ok} || {N, _, _, _} <- Procs]} end, "
        "Up = fun() -> case Load(new) of {error, LWhy} -> {beamops_patch_not_loaded, LWhy}; "
        "ok -> case Change(Procs, [], up) of {ok, _} -> Patched(); "
        "{error, CN, CWhy, CDone} -> Undone = Undo(CDone, undo_up), "
        "{beamops_patch_restored, CN, CWhy, Text(Load(cur)), Undone} end end end, "
        "Down = fun() -> case Change(Procs, [], down) of "
        '{error, CN, CWhy, CDone} -> {beamops_patch_restored, CN, CWhy, "unchanged", Undo(CDone, undo_down)}; '
        "{ok, _} -> case Load(new) of ok -> Patched(); "
        "{error, LWhy} -> Undo(Procs, undo_down), {beamops_patch_not_loaded, LWhy} end end end, "
        "case Suspend(Procs, []) of "
        "{error, SN, SWhy, SDone} -> [catch sys:resume(P, T) || P <- SDone], "
        "{beamops_patch_not_loaded, Text({cannot_suspend, SN, SWhy})}; "
        f"{{ok, Suspended}} -> try {'Up' if direction == 'up' else 'Down'}() "
        "after [catch sys:resume(P, T) || P <- Suspended] end end "
        "catch throw:{beamops_patch, _, _, _} = Thrown -> Thrown end end"
    )
    return f"rpc:call(Node, erlang, apply, [{program}, []], {timeout_ms * 4})"


def patched_body(roots: list[str], timeout_ms: int) -> str:
    """The loaded modules of the node's own tree (code:root_dir(), or one of ``roots``) whose code differs
    from their beam file there (a hot patch not written into the release). Answer: {beamops_patched_modules,
    [{Mod, File, LoadedMd5, FileMd5}]}."""
    program = (
        "fun() -> " + _COMMON + f"Roots = [code:root_dir() | {_list(_dist.erl_quoted(r) for r in roots)}], "
        'Under = fun(F) -> lists:any(fun(R) -> lists:prefix(R ++ "/", F) end, Roots) end, '
        "{beamops_patched_modules, [{M, F, Hex(M:module_info(md5)), D} || {M, F} <- code:all_loaded(), "
        'is_list(F), Under(F), D <- [case beam_lib:md5(F) of {ok, {_, Md}} -> Hex(Md); _ -> "" end], '
        "D =/= Hex(M:module_info(md5))]} end"
    )
    return f"rpc:call(Node, erlang, apply, [{program}, []], {timeout_ms})"


def module_name_problem(name: str) -> str | None:
    if not _MODULE_RE.match(name):
        return f"{name!r} is not a plain module name (lower-case letter first, then letters, digits, _ or @)"
    return None


def compiler_series(version: str) -> str:
    """The major.minor of a compiler version (one OTP release series): 8.2.6.1 -> 8.2."""
    return ".".join(version.split(".")[:2])
