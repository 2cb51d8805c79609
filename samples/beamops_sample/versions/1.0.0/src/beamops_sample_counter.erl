%% Counter, version 1.0.0: the state is a plain integer.
-module(beamops_sample_counter).
-behaviour(gen_server).
%% Revision of this module: the next version's code_change gets it as OldVsn.
-vsn("1.0.0").

-export([start_link/0, incr/0, value/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% Both return a map merged into the JSON answer. The call messages
%% (incr, value) must stay the same in every version: calls queued while
%% the process is suspended for an upgrade are served by the next code.
incr() -> gen_server:call(?MODULE, incr).
value() -> gen_server:call(?MODULE, value).

init([]) ->
    {ok, 0}.

handle_call(incr, _From, N) ->
    {reply, info(N + 1), N + 1};
handle_call(value, _From, N) ->
    {reply, info(N), N};
handle_call(_Req, _From, N) ->
    {reply, #{error => <<"unknown_call">>}, N}.

handle_cast(_Msg, N) -> {noreply, N}.
handle_info(_Info, N) -> {noreply, N}.
terminate(_Reason, _N) -> ok.

%% Nothing to convert into 1.0.0: a downgrade to 1.0.0 is converted by the
%% newer module before this code is loaded.
code_change(_OldVsn, N, _Extra) when is_integer(N) ->
    {ok, N}.

info(N) ->
    #{count => N, state_shape => <<"integer">>}.
