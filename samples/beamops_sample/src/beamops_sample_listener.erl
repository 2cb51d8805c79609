%% Owns the listening socket and a fixed pool of acceptor processes.
%% The acceptors run beamops_sample_http:acceptor_loop/1, which re-enters
%% itself with a fully qualified call, so they move to new code at most
%% one accept timeout after a load_module.
-module(beamops_sample_listener).
-behaviour(gen_server).

-export([start_link/0, port/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% The port in use (for tests and remote checks).
port() ->
    gen_server:call(?MODULE, port).

init([]) ->
    process_flag(trap_exit, true),
    Port = configured_port(),
    Opts = [binary, {packet, http_bin}, {active, false}, {reuseaddr, true},
            {backlog, 1024}, {nodelay, true}],
    case gen_tcp:listen(Port, Opts) of
        {ok, LSock} ->
            N = application:get_env(beamops_sample, acceptors, 8),
            Acceptors = [start_acceptor(LSock) || _ <- lists:seq(1, N)],
            logger:notice("beamops_sample listening on port ~p (~p acceptors)",
                          [Port, N]),
            {ok, #{lsock => LSock, port => Port, acceptors => Acceptors}};
        {error, Reason} ->
            {stop, {listen_failed, Port, Reason}}
    end.

handle_call(port, _From, State = #{port := Port}) ->
    {reply, Port, State};
handle_call(_Req, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

%% An acceptor died (it should not): replace it.
handle_info({'EXIT', Pid, Reason},
            State = #{lsock := LSock, acceptors := Acceptors}) ->
    case lists:member(Pid, Acceptors) of
        true ->
            logger:warning("acceptor ~p exited: ~p", [Pid, Reason]),
            New = start_acceptor(LSock),
            {noreply, State#{acceptors := [New | lists:delete(Pid, Acceptors)]}};
        false ->
            {noreply, State}
    end;
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, #{lsock := LSock}) ->
    gen_tcp:close(LSock);
terminate(_Reason, _State) ->
    ok.

code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

start_acceptor(LSock) ->
    proc_lib:spawn_link(beamops_sample_http, acceptor_loop, [LSock]).

configured_port() ->
    case os:getenv("BEAMOPS_SAMPLE_PORT") of
        Value when is_list(Value), Value =/= "" ->
            list_to_integer(string:trim(Value));
        _ ->
            application:get_env(beamops_sample, port, 8080)
    end.
