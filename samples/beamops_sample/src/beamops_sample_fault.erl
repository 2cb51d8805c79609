%% How this build serves its normal requests (GET /, /counter,
%% /counter/value): before each one, the HTTP module asks serve/0 whether to
%% answer it or fail it. A good build answers every one. The "up but bad"
%% builds replace this module by an overlay (versions/1.1.0-flaky,
%% versions/1.1.0-slow) and keep GET /health at 200, so that only an analysis
%% of real traffic tells them from a good build.
-module(beamops_sample_fault).

-export([serve/0]).

-spec serve() -> ok | {fail, 100..599, binary()}.
serve() ->
    ok.
