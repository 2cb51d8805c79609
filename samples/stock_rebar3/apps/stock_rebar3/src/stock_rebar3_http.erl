%%%-------------------------------------------------------------------
%% @doc The only code added to what `rebar3 new release` wrote: a tiny
%% HTTP endpoint for the beamops.deploy test bed, on port 8080.
%%
%% GET /health -> 200; GET / -> JSON with the release version, node, OS
%% pid and this server's state; GET /slow?ms=N -> the same after N ms
%% (at most 10000). Every answer carries `x-beamops-version' (the
%% application's vsn, so it changes with a hot upgrade) and
%% `x-beamops-node'.
%%
%% The server keeps a state (requests served, code changes seen, start
%% time) that a hot upgrade must carry over. Acceptors and connection
%% processes re-enter this module with fully qualified calls, so they
%% leave the old code within one accept timeout; the appup loads it with
%% soft_purge so a request in flight is never killed.
%% @end
%%%-------------------------------------------------------------------

-module(stock_rebar3_http).

-behaviour(gen_server).

-export([start_link/0, accept_loop/2, serve/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2,
         code_change/3]).

-define(PORT, 8080).
-define(ACCEPTORS, 8).
-define(ACCEPT_TIMEOUT, 500).
-define(MAX_SLOW_MS, 10000).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) ->
    process_flag(trap_exit, true),
    Opts = [binary, {packet, http_bin}, {active, false}, {reuseaddr, true},
            {backlog, 256}],
    case gen_tcp:listen(?PORT, Opts) of
        {ok, LSock} ->
            [spawn_acceptor(LSock) || _ <- lists:seq(1, ?ACCEPTORS)],
            {ok, #{lsock => LSock, served => 0, code_changes => 0,
                   started_at => erlang:system_time(millisecond)}};
        {error, Reason} ->
            {stop, {listen, ?PORT, Reason}}
    end.

%% One more request served: the state as it was before it.
handle_call(served, _From, State = #{served := N}) ->
    {reply, State, State#{served := N + 1}};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

%% An acceptor stopped (the listening socket failed it): start another.
handle_info({'EXIT', _Pid, _Reason}, State = #{lsock := LSock}) ->
    spawn_acceptor(LSock),
    {noreply, State};
handle_info(_Info, State) ->
    {noreply, State}.

code_change(_OldVsn, State, _Extra) ->
    {ok, State#{code_changes => maps:get(code_changes, State, 0) + 1}}.

spawn_acceptor(LSock) ->
    spawn_link(?MODULE, accept_loop, [LSock, self()]).

accept_loop(LSock, Server) ->
    case gen_tcp:accept(LSock, ?ACCEPT_TIMEOUT) of
        {ok, Sock} ->
            Pid = spawn(?MODULE, serve, [Server]),
            case gen_tcp:controlling_process(Sock, Pid) of
                ok -> Pid ! {serve, Sock};
                {error, _} -> exit(Pid, kill), gen_tcp:close(Sock)
            end;
        {error, timeout} ->
            ok;
        {error, closed} ->
            exit(closed);
        {error, _} ->
            timer:sleep(100)
    end,
    ?MODULE:accept_loop(LSock, Server).

serve(Server) ->
    receive
        {serve, Sock} ->
            try read_request(Sock) of
                {'GET', Path} -> reply(Sock, route(Path, Server));
                {_, _} -> reply(Sock, {405, [{error, <<"method not allowed">>}]})
            catch
                _:_ -> ok
            end,
            gen_tcp:close(Sock)
    after 5000 ->
        ok
    end.

read_request(Sock) ->
    {ok, {http_request, Method, {abs_path, Path}, _}} = gen_tcp:recv(Sock, 0, 5000),
    skip_headers(Sock),
    {Method, Path}.

skip_headers(Sock) ->
    case gen_tcp:recv(Sock, 0, 5000) of
        {ok, http_eoh} -> ok;
        {ok, {http_header, _, _, _, _}} -> skip_headers(Sock)
    end.

route(<<"/health">>, _Server) ->
    {200, [{status, <<"ok">>}]};
route(<<"/">>, Server) ->
    {200, about(Server)};
route(<<"/slow", Query/binary>>, Server) ->
    Ms = min(slow_ms(Query), ?MAX_SLOW_MS),
    timer:sleep(Ms),
    {200, [{slept_ms, Ms} | about(Server)]};
route(_, _Server) ->
    {404, [{error, <<"not found">>}]}.

slow_ms(<<"?ms=", Digits/binary>>) ->
    try binary_to_integer(Digits) of
        Ms when Ms >= 0 -> Ms;
        _ -> 1000
    catch
        error:badarg -> 1000
    end;
slow_ms(_) ->
    1000.

about(Server) ->
    #{served := Served, code_changes := Changes, started_at := Started} =
        gen_server:call(Server, served),
    [{version, version()}, {node, atom_to_binary(node())},
     {pid, list_to_binary(os:getpid())}, {served, Served},
     {code_changes, Changes}, {started_at, Started}].

version() ->
    {ok, Vsn} = application:get_key(stock_rebar3, vsn),
    list_to_binary(Vsn).

reply(Sock, {Status, Fields}) ->
    Body = json(Fields),
    Head = [<<"HTTP/1.1 ">>, integer_to_binary(Status), <<" ">>, reason(Status),
            <<"\r\ncontent-type: application/json\r\nconnection: close\r\n">>,
            <<"content-length: ">>, integer_to_binary(iolist_size(Body)),
            <<"\r\nx-beamops-version: ">>, version(),
            <<"\r\nx-beamops-node: ">>, atom_to_binary(node()), <<"\r\n\r\n">>],
    gen_tcp:send(Sock, [Head, Body]).

reason(200) -> <<"OK">>;
reason(404) -> <<"Not Found">>;
reason(405) -> <<"Method Not Allowed">>.

%% A flat JSON object of integers and plain binaries (no quoting needed).
json(Fields) ->
    Pairs = [[$", atom_to_binary(K), <<"\":">>, value(V)] || {K, V} <- Fields],
    [${, lists:join($,, Pairs), $}].

value(V) when is_integer(V) -> integer_to_binary(V);
value(V) when is_binary(V) -> [$", V, $"].
