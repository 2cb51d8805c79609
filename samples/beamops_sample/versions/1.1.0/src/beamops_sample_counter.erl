%% Counter, version 1.1.0: the state becomes a map.
%%   up from 1.0.0:   N -> #{count => N, upgraded_from => <<"1.0.0">>}
%%                    (upgraded_from: the -vsn of the replaced module)
%%   down to 1.0.0:   #{count := N} -> N
%% The relup of 1.1.0-crash passes Extra = {simulate_crash, Why} to make
%% this code_change raise (a failed upgrade after the point of no return).
-module(beamops_sample_counter).
-behaviour(gen_server).
%% Revision of this module (kept by 1.1.0-crash and 1.1.0-unhealthy, which
%% reuse it). The next version's code_change gets it as OldVsn.
-vsn("1.1.0").

-export([start_link/0, incr/0, value/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

incr() -> gen_server:call(?MODULE, incr).
value() -> gen_server:call(?MODULE, value).

init([]) ->
    {ok, #{count => 0, upgraded_from => null}}.

handle_call(incr, _From, S = #{count := N}) ->
    S1 = S#{count := N + 1},
    {reply, info(S1), S1};
handle_call(value, _From, S) ->
    {reply, info(S), S};
handle_call(_Req, _From, S) ->
    {reply, #{error => <<"unknown_call">>}, S}.

handle_cast(_Msg, S) -> {noreply, S}.
handle_info(_Info, S) -> {noreply, S}.
terminate(_Reason, _S) -> ok.

code_change(_OldVsn, _State, {simulate_crash, Why}) ->
    erlang:error({simulated_code_change_crash, Why});
code_change({down, _Vsn}, #{count := N}, _Extra) ->
    {ok, N};
code_change(OldVsn, N, _Extra) when is_integer(N) ->
    {ok, #{count => N, upgraded_from => vsn_to_json(OldVsn)}};
code_change(_OldVsn, S = #{count := _}, _Extra) ->
    {ok, S}.

info(#{count := N, upgraded_from := From}) ->
    #{count => N, state_shape => <<"map">>, upgraded_from => From}.

%% OldVsn is the -vsn attribute of the old module (release_handler reads it
%% before loading the new code); application:get_key/2 would already give
%% the new version here.
vsn_to_json(Vsn) when is_list(Vsn) -> list_to_binary(Vsn);
vsn_to_json(_) -> null.
