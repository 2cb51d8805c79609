%% Counter, a hot patch of 1.0.0 (same release version, loaded by
%% beamops.deploy.hot_patch): the state becomes a map that records the
%% patch's Extra term.
%%   up from 1.0.0:   N -> #{count => N, patch => Extra}
%%   down to 1.0.0:   #{count := N} -> N (this code runs it: 1.0.0 knows
%%                    nothing of the patch)
%% Extra = {simulate_crash, Why} makes code_change raise (a patch that fails
%% on the canary and is undone with the state intact).
-module(beamops_sample_counter).
-behaviour(gen_server).
-vsn("1.0.0+patch").

-export([start_link/0, incr/0, value/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

incr() -> gen_server:call(?MODULE, incr).
value() -> gen_server:call(?MODULE, value).

%% A node restarted on a persisted patch starts with the patched state.
init([]) ->
    {ok, #{count => 0, patch => <<"persisted">>}}.

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
code_change(_OldVsn, N, Extra) when is_integer(N) ->
    {ok, #{count => N, patch => Extra}};
code_change(_OldVsn, S = #{count := _}, _Extra) ->
    {ok, S}.

info(#{count := N, patch := Patch}) ->
    #{count => N, state_shape => <<"map">>, patch_state => Patch}.
