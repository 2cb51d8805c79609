%% 1.1.0-flaky: up but bad. Every 20th normal request of this node (5 %,
%% counted across GET /, /counter and /counter/value) answers 500; GET /health
%% and everything else answer as in 1.1.0. Counted, not random, so that a
%% test knows how many failures N requests bring.
-module(beamops_sample_fault).

-export([serve/0]).

-define(EVERY, 20).
-define(KEY, {?MODULE, served}).

-spec serve() -> ok | {fail, 100..599, binary()}.
serve() ->
    case atomics:add_get(counter(), 1, 1) rem ?EVERY of
        0 -> {fail, 500, <<"1.1.0-flaky fails every 20th normal request">>};
        _ -> ok
    end.

%% Made on first use (two first requests at once may each make one: a count
%% or two lost, once). persistent_term:put of a new key costs no global GC.
counter() ->
    case persistent_term:get(?KEY, undefined) of
        undefined ->
            Ref = atomics:new(1, []),
            persistent_term:put(?KEY, Ref),
            Ref;
        Ref ->
            Ref
    end.
