-module(beamops_sample_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    Counter = #{id => beamops_sample_counter,
                start => {beamops_sample_counter, start_link, []},
                modules => [beamops_sample_counter]},
    Listener = #{id => beamops_sample_listener,
                 start => {beamops_sample_listener, start_link, []},
                 shutdown => 2000,
                 modules => [beamops_sample_listener]},
    %% Optional clustering: its init returns ignore when no peers are
    %% configured (see beamops_sample_cluster).
    Cluster = #{id => beamops_sample_cluster,
                start => {beamops_sample_cluster, start_link, []},
                shutdown => 5000,
                modules => [beamops_sample_cluster]},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10},
          [Counter, Listener, Cluster]}}.
