%% 1.1.0-unhealthy: a release that upgrades cleanly and serves requests, but
%% whose health check always fails (fixture for the rollback paths).
-module(beamops_sample_health).

-export([check/0]).

check() ->
    {500, #{status => <<"failing">>,
            reason => <<"1.1.0-unhealthy always fails its health check">>}}.
