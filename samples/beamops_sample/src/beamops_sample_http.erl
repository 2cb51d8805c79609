%% Minimal HTTP/1.1 on gen_tcp: one process per connection, one request per
%% connection (every response carries "connection: close").
%%
%% Hot upgrade: acceptors loop through ?MODULE:acceptor_loop/1, so after a
%% load_module they run the new code within ?ACCEPT_TIMEOUT. The appups load
%% this module with soft_purge/soft_purge, so a connection still sleeping in
%% the old code (GET /slow) is left alone and finishes its response.
-module(beamops_sample_http).
%% BUILD_MARKS: fields every answer carries; a build that is a hot patch of
%% a version says so there (versions/1.0.0@patch).
-include("beamops_sample_build.hrl").

-export([acceptor_loop/1, connection/0]).

-define(ACCEPT_TIMEOUT, 500).
-define(RECV_TIMEOUT, 10000).
-define(MAX_SLOW_MS, 10000).

acceptor_loop(LSock) ->
    case gen_tcp:accept(LSock, ?ACCEPT_TIMEOUT) of
        {ok, Sock} ->
            %% Not linked: a connection outlives its acceptor. It is still
            %% killed when the application stops (same group leader).
            Pid = proc_lib:spawn(?MODULE, connection, []),
            case gen_tcp:controlling_process(Sock, Pid) of
                ok -> Pid ! {socket, Sock};
                {error, _} -> exit(Pid, kill), gen_tcp:close(Sock)
            end;
        {error, timeout} ->
            ok;
        {error, closed} ->
            exit(normal);
        {error, Reason} ->
            %% emfile and friends: back off a little instead of spinning.
            logger:warning("accept failed: ~p", [Reason]),
            timer:sleep(100)
    end,
    ?MODULE:acceptor_loop(LSock).

connection() ->
    receive
        {socket, Sock} ->
            try serve(Sock)
            after gen_tcp:close(Sock)
            end
    after 5000 ->
            exit(no_socket)
    end.

serve(Sock) ->
    case gen_tcp:recv(Sock, 0, ?RECV_TIMEOUT) of
        {ok, {http_request, Method, {abs_path, Uri}, _HttpVsn}} ->
            case read_headers(Sock) of
                ok ->
                    {Status, Body} = route(Method, Uri),
                    reply(Sock, Status, Body);
                error ->
                    ok
            end;
        {ok, {http_request, _Method, _OtherUri, _HttpVsn}} ->
            reply(Sock, 400, #{error => <<"bad_request">>});
        {ok, {http_error, _}} ->
            reply(Sock, 400, #{error => <<"bad_request">>});
        {error, _} ->
            ok
    end.

read_headers(Sock) ->
    case gen_tcp:recv(Sock, 0, ?RECV_TIMEOUT) of
        {ok, {http_header, _, _, _, _}} -> read_headers(Sock);
        {ok, http_eoh} -> ok;
        {ok, {http_error, _}} -> read_headers(Sock);
        {error, _} -> error
    end.

route('GET', Uri) ->
    #{path := Path} = Parsed = uri_string:parse(Uri),
    Query = case Parsed of
                #{query := Q} -> uri_string:dissect_query(Q);
                _ -> []
            end,
    handle_get(Path, Query);
route(_Method, _Uri) ->
    {405, (base())#{error => <<"method_not_allowed">>}}.

handle_get(Path, _Q) when Path =:= <<"/">>;
                          Path =:= <<"/counter">>;
                          Path =:= <<"/counter/value">> ->
    %% A normal request: the build's fault module may fail or delay it.
    case beamops_sample_fault:serve() of
        ok -> {200, maps:merge(base(), normal(Path))};
        {fail, Status, Why} -> {Status, (base())#{error => Why}}
    end;
handle_get(<<"/slow">>, Q) ->
    Ms = slow_ms(Q),
    timer:sleep(Ms),
    {200, (base())#{slept_ms => Ms}};
handle_get(<<"/health">>, _Q) ->
    {Status, Body} = beamops_sample_health:check(),
    {Status, maps:merge(base(), Body)};
handle_get(<<"/status">>, Q) ->
    %% Answers the status asked for (tests of what a load balancer counts).
    case status_code(Q) of
        {ok, Code} -> {Code, (base())#{asked_status => Code}};
        error -> {400, (base())#{error => <<"code must be 200..599, not 204 or 304">>}}
    end;
handle_get(<<"/pid">>, _Q) ->
    {200, (base())#{pid => list_to_integer(os:getpid()),
                    app_started_at => persistent_term:get(
                                        {beamops_sample, started_at}, null)}};
handle_get(<<"/cluster">>, _Q) ->
    Info = beamops_sample_cluster:info(),
    {200, maps:merge(base(), Info#{why := why_json(maps:get(why, Info))})};
handle_get(<<"/cluster/isolate">>, Q) ->
    %% The fault switch of tests: a split for ?ms (at most 10 minutes; 0 ends it).
    Ms = case param(<<"ms">>, Q) of
             undefined -> -1;
             Raw -> try binary_to_integer(Raw) catch error:badarg -> -1 end
         end,
    case Ms >= 0 andalso Ms =< 600000 andalso beamops_sample_cluster:isolate(Ms) of
        ok -> {200, (base())#{isolated_ms => Ms}};
        false -> {400, (base())#{error => <<"ms must be 0..600000">>}};
        {error, Why} -> {503, maps:merge(base(), error_json(Why))}
    end;
handle_get(Path, Q) when Path =:= <<"/kv/put">>;
                         Path =:= <<"/kv/get">>;
                         Path =:= <<"/kv/keys">> ->
    %% The replicated store: 503 not_clustered when clustering is off.
    case beamops_sample_cluster:configured() of
        true -> kv(Path, Q);
        false -> {503, (base())#{error => not_clustered}}
    end;
handle_get(Path, _Q) ->
    {404, (base())#{error => <<"not_found">>, path => Path}}.

kv(<<"/kv/put">>, Q) ->
    case {param(<<"key">>, Q), param(<<"value">>, Q)} of
        {undefined, _} ->
            {400, (base())#{error => <<"key required">>}};
        {_, undefined} ->
            {400, (base())#{error => <<"value required">>}};
        {Key, Value} ->
            %% Answered once the write is committed on every running replica.
            case beamops_sample_cluster:kv_put(Key, Value) of
                ok -> {200, (base())#{key => Key, value => Value,
                                      written_on => node()}};
                {error, Why} -> {503, maps:merge(base(), (error_json(Why))#{key => Key})}
            end
    end;
kv(<<"/kv/get">>, Q) ->
    case param(<<"key">>, Q) of
        undefined ->
            {400, (base())#{error => <<"key required">>}};
        Key ->
            case beamops_sample_cluster:kv_get(Key) of
                {ok, Value} -> {200, (base())#{key => Key, value => Value}};
                not_found -> {404, (base())#{error => <<"not_found">>, key => Key}};
                {error, Why} -> {503, maps:merge(base(), (error_json(Why))#{key => Key})}
            end
    end;
kv(<<"/kv/keys">>, _Q) ->
    case beamops_sample_cluster:kv_keys() of
        {ok, Keys} -> {200, (base())#{count => length(Keys), keys => Keys}};
        {error, Why} -> {503, maps:merge(base(), error_json(Why))}
    end.

%% A query parameter given with a value (a key must not be empty).
param(Name, Query) when is_list(Query) ->
    case lists:keyfind(Name, 1, Query) of
        {<<"key">>, <<>>} -> undefined;
        {_, V} when is_binary(V) -> V;
        _ -> undefined
    end;
param(_Name, _Query) ->
    undefined.

%% Why the store refused: error is a short word, detail the rest if any.
error_json(Why) when is_atom(Why) ->
    #{error => Why};
error_json({Tag, Detail}) when is_atom(Tag) ->
    #{error => Tag, detail => term_json(Detail)};
error_json(Why) ->
    #{error => term_json(Why)}.

%% beamops_sample_cluster:ready/0's answer in JSON: null when ready, a word,
%% or {"missing": [nodes]}.
why_json(null) -> null;
why_json(Why) when is_atom(Why) -> Why;
why_json({Tag, Nodes}) when is_atom(Tag), is_list(Nodes) -> #{Tag => Nodes};
why_json(Why) -> term_json(Why).

term_json(Nodes) when is_list(Nodes) ->
    case lists:all(fun is_atom/1, Nodes) of
        true -> Nodes;
        false -> iolist_to_binary(io_lib:format("~0p", [Nodes]))
    end;
term_json(T) when is_atom(T) -> T;
term_json(T) ->
    iolist_to_binary(io_lib:format("~0p", [T])).

normal(<<"/">>) -> #{};
normal(<<"/counter">>) -> beamops_sample_counter:incr();
normal(<<"/counter/value">>) -> beamops_sample_counter:value().

status_code(Query) ->
    case lists:keyfind(<<"code">>, 1, Query) of
        {_, V} when is_binary(V) ->
            try binary_to_integer(V) of
                %% 204 and 304 may not carry the JSON body every answer has.
                Code when Code >= 200, Code =< 599, Code =/= 204, Code =/= 304 -> {ok, Code};
                _ -> error
            catch error:badarg -> error
            end;
        _ -> error
    end.

slow_ms(Query) ->
    Raw = case lists:keyfind(<<"ms">>, 1, Query) of
              {_, V} when is_binary(V) -> V;
              _ -> <<"1000">>
          end,
    Ms = try binary_to_integer(Raw) catch error:badarg -> 1000 end,
    max(0, min(?MAX_SLOW_MS, Ms)).

%% The version as the running code sees it now: it changes after
%% release_handler has installed a new release.
version() ->
    case application:get_key(beamops_sample, vsn) of
        {ok, Vsn} -> Vsn;
        undefined -> "unknown"
    end.

node_name() ->
    atom_to_list(node()).

base() ->
    maps:merge(?BUILD_MARKS,
               #{version => list_to_binary(version()),
                 node => list_to_binary(node_name())}).

reply(Sock, Status, Body) ->
    Json = beamops_sample_json:encode(Body),
    Head = ["HTTP/1.1 ", integer_to_list(Status), " ", reason(Status), "\r\n",
            "content-type: application/json\r\n",
            "content-length: ", integer_to_list(iolist_size(Json)), "\r\n",
            "connection: close\r\n",
            "x-beamops-version: ", version(), "\r\n",
            "x-beamops-node: ", node_name(), "\r\n",
            "\r\n"],
    _ = inet:setopts(Sock, [{packet, raw}]),
    _ = gen_tcp:send(Sock, [Head, Json]),
    _ = gen_tcp:shutdown(Sock, write),
    ok.

reason(200) -> "OK";
reason(400) -> "Bad Request";
reason(404) -> "Not Found";
reason(405) -> "Method Not Allowed";
reason(500) -> "Internal Server Error";
reason(_) -> "Unknown".
