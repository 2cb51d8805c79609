%% Counter, version 1.2.0: map_v2 adds a schema tag and the time of the
%% last increment.
%%   up from 1.1.0:  #{count, upgraded_from} -> #{v => 2, count, upgraded_from,
%%                                                last_incr_at => null}
%%   down to 1.1.0:  drops v and last_incr_at.
-module(beamops_sample_counter).
-behaviour(gen_server).
%% Revision of this module (1.3.0 reuses it unchanged).
-vsn("1.2.0").

-export([start_link/0, incr/0, value/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

incr() -> gen_server:call(?MODULE, incr).
value() -> gen_server:call(?MODULE, value).

init([]) ->
    {ok, #{v => 2, count => 0, upgraded_from => null, last_incr_at => null}}.

handle_call(incr, _From, S = #{v := 2, count := N}) ->
    S1 = S#{count := N + 1,
            last_incr_at := erlang:system_time(millisecond)},
    {reply, info(S1), S1};
handle_call(value, _From, S) ->
    {reply, info(S), S};
handle_call(_Req, _From, S) ->
    {reply, #{error => <<"unknown_call">>}, S}.

handle_cast(_Msg, S) -> {noreply, S}.
handle_info(_Info, S) -> {noreply, S}.
terminate(_Reason, _S) -> ok.

code_change({down, _Vsn}, #{v := 2, count := N, upgraded_from := From}, _Extra) ->
    {ok, #{count => N, upgraded_from => From}};
code_change(_OldVsn, S = #{v := 2}, _Extra) ->
    {ok, S};
code_change(OldVsn, #{count := N}, _Extra) ->
    {ok, v2(N, OldVsn)};
code_change(OldVsn, N, _Extra) when is_integer(N) ->
    {ok, v2(N, OldVsn)}.

v2(N, OldVsn) ->
    #{v => 2, count => N, upgraded_from => vsn_to_json(OldVsn),
      last_incr_at => null}.

info(#{count := N, upgraded_from := From, last_incr_at := At}) ->
    #{count => N, state_shape => <<"map_v2">>, upgraded_from => From,
      last_incr_at => At}.

%% OldVsn: the -vsn attribute of the replaced module.
vsn_to_json(Vsn) when is_list(Vsn) -> list_to_binary(Vsn);
vsn_to_json(_) -> null.
