%% 1.1.0-slow: up but bad. Every normal request (GET /, /counter,
%% /counter/value) takes 300 ms more than in 1.1.0 and then succeeds;
%% GET /health and everything else answer as fast as in 1.1.0.
-module(beamops_sample_fault).

-export([serve/0]).

-define(DELAY_MS, 300).

-spec serve() -> ok | {fail, 100..599, binary()}.
serve() ->
    timer:sleep(?DELAY_MS),
    ok.
