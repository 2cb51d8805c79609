# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A distributed Erlang cluster as one of its nodes sees it (target side, standard library only).

One question to the node, over the connection _otp.Node makes: the peers it is connected to (nodes(),
visible nodes only: this module's own connection is hidden), the release each of them runs, and
optionally an application's own readiness answer ({Module, Function, Args} that must return true) on the
node and on every peer. The expected peers are the caller's (the fleet's node names, or a list the user
gives); what is missing follows from them.
This is a private module_utils file: its interface may change without notice.
"""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.module_utils import _dist, _erlterm


def cluster_body(ready: str | None, timeout_ms: int) -> str:
    """The question; its answer is read by parse_cluster. ``ready`` is Erlang text of {M, F, Args}."""
    ready_text = _dist.erl_quoted(ready) if ready else "none"
    program = (
        "fun() -> "
        f"T = {timeout_ms}, Ready = {ready_text}, "
        'Text = fun(X) -> lists:flatten(io_lib:format("~0p", [X])) end, '
        "Vsn = fun(N) -> case rpc:call(N, release_handler, which_releases, [], T) of "
        "L when is_list(L) -> case [V || {_, V, _, current} <- L] ++ [V || {_, V, _, permanent} <- L] of "
        "[V1 | _] -> V1; [] -> none end; Other -> {error, Text(Other)} end end, "
        "Peers = lists:sort(nodes()), "
        "Answers = case Ready of none -> none; _ -> "
        'case erl_scan:string(Ready ++ ".") of {ok, Toks, _} -> case erl_parse:parse_term(Toks) of '
        "{ok, {M, F, A}} when is_atom(M), is_atom(F), is_list(A) -> "
        "[{N, case rpc:call(N, M, F, A, T) of true -> true; R -> {false, Text(R)} end} || N <- [node() | Peers]]; "
        "_ -> {bad_ready, Ready} end; _ -> {bad_ready, Ready} end end, "
        "{beamops_cluster, node(), [{N, Vsn(N)} || N <- Peers], Answers} end"
    )
    return f"rpc:call(Node, erlang, apply, [{program}, []], {timeout_ms * 3})"


def parse_cluster(answer, expected: list[str]) -> dict:
    """The cluster facts from the answer to cluster_body: node, connected, members (the node and its connected
    peers), versions (each connected peer's release), ready, expected, missing,
    ready_failures (the nodes whose readiness did not answer true, with what they answered). ValueError when
    the answer is not one (the node could not answer, or cluster_ready is not {Module, Function, Args})."""
    if not (isinstance(answer, tuple) and len(answer) == 4 and answer[0] == "beamops_cluster"):
        raise ValueError(f"the node did not answer the cluster question: {_erlterm.format_term(answer, 300)}")
    _tag, node, peers, answers = answer
    if isinstance(answers, tuple) and answers[:1] == ("bad_ready",):
        raise ValueError(
            f"cluster_ready {answers[1]!r} is not an Erlang term {{Module, Function, Args}} with Args a list: "
            "give e.g. {mnesia_ready, check, []}"
        )
    versions = {}
    for peer, vsn in peers:
        versions[str(peer)] = str(vsn) if not isinstance(vsn, tuple) else f"unknown: {vsn[1]}"
    ready = None
    failures = {}
    if isinstance(answers, list):
        ready = {}
        for peer, said in answers:
            ok = said == "true"
            ready[str(peer)] = ok
            if not ok:
                failures[str(peer)] = str(said[1]) if isinstance(said, tuple) and len(said) == 2 else str(said)
    connected = sorted(versions)
    me = str(node)
    return {
        "node": me,
        "connected": connected,
        "members": sorted([me, *connected]),
        "versions": versions,
        "expected": sorted(set(expected) - {me}),
        "missing": sorted(set(expected) - set(connected) - {me}),
        "ready": ready,
        "ready_failures": failures,
    }


def judge(facts: dict, leaving: bool = False) -> dict:
    """Whether the cluster is whole as ``facts`` (parse_cluster's) see it: the node is connected to every expected
    peer and the readiness check holds on every member, or on every member but the node itself when it is
    ``leaving`` (the check is then whether the others can do without it). Adds ``whole`` and ``why`` (text naming
    the missing peers and the members not ready; empty when whole)."""
    unready = sorted(n for n in facts["ready_failures"] if not (leaving and n == facts["node"]))
    reasons = []
    if facts["missing"]:
        reasons.append(f"{facts['node']} is not connected to {', '.join(facts['missing'])}")
    if unready:
        said = "; ".join(f"{n} answered {facts['ready_failures'][n]}" for n in unready)
        reasons.append(f"the readiness check fails on {', '.join(unready)} ({said})")
    return {**facts, "whole": not reasons, "why": "; ".join(reasons)}
