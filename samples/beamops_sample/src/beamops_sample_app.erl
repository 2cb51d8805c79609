-module(beamops_sample_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    %% GET /pid reports it: a node restarted in place by release_handler
    %% (init:restart/0 after a failed install) keeps its OS pid.
    persistent_term:put({beamops_sample, started_at},
                        erlang:system_time(millisecond)),
    beamops_sample_sup:start_link().

stop(_State) ->
    ok.
