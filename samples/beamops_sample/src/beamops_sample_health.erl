%% Health check used by GET /health. Replaced by an overlay in the
%% 1.1.0-unhealthy version (see versions/).
-module(beamops_sample_health).

-export([check/0]).

check() ->
    {200, #{status => <<"ok">>}}.
