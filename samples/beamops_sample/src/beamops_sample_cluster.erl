%% Optional clustering: a distributed Erlang cluster whose nodes share a
%% replicated key-value store (mnesia table beamops_sample_kv, RAM only).
%%
%% Off unless peers are configured: the OS env BEAMOPS_SAMPLE_PEERS
%% (comma-separated node names, may include this node's own name) when set
%% and not blank, else the app env cluster_peers (a list of atoms, default
%% []). With no peers, init/1 returns ignore and nothing of mnesia starts.
%%
%% When configured, this server starts mnesia itself with a RAM schema
%% (nothing written to disc), then at once and every second:
%%   - connects each expected peer that is not connected;
%%   - adds the connected peers that mnesia does not run with yet
%%     (change_config(extra_db_nodes, ...)), so a node that restarts with a
%%     fresh schema takes the cluster's one and reloads its copy of the
%%     table from the live replicas;
%%   - when the table exists in the schema: makes sure this node has a RAM
%%     copy; when it does not: creates it, but only on the lowest node of
%%     (expected peers + self) and only when every expected peer is connected
%%     and runs mnesia with this node. An isolated node never creates a table
%%     of its own (its schema could not be merged with the cluster's later);
%%   - after a split during which both sides kept running (mnesia reports an
%%     inconsistent_database), merges: mnesia connects the two sides again and
%%     replicates the writes made from then on, but not those made on either
%%     side during the split. Each node copies the records it lacks from the
%%     peer's copy (a key both sides wrote differently takes the lower node's
%%     value), so no acknowledged write is lost; ready/0 is false meanwhile.
%% An error during one round is logged; the next round runs all the same.
%%
%% isolate/1 is a fault switch for tests: for the milliseconds given, the
%% node refuses its peers (another cookie for each of them, so their
%% connection attempts fail the handshake), drops its connections to them and
%% stops connecting: a split cluster whose sides both keep running. 0 ends it.
%%
%% ready/0 and info/0 read state kept by mnesia and the runtime (ets,
%% persistent_term): they never call this server, so they stay cheap and
%% answer while a round is blocked on a slow peer.
-module(beamops_sample_cluster).
-behaviour(gen_server).

-export([start_link/0, configured/0, ready/0, info/0,
         kv_put/2, kv_get/1, kv_keys/0, isolate/1]).
-export([init/1, handle_continue/2, handle_call/3, handle_cast/2,
         handle_info/2, terminate/2, code_change/3]).

-define(TAB, beamops_sample_kv).
-define(TICK_MS, 1000).
%% The expected peers (without this node), set while clustering is on.
-define(EXPECTED, {?MODULE, expected}).
%% The peers to merge the table with after a split (set when it changes:
%% rarely, as a persistent_term should be).
-define(MERGING, {?MODULE, merging}).
%% How long a merge waits for the peer's copy.
-define(MERGE_RPC_MS, 10000).
%% How long one round waits for its connection attempts.
-define(CONNECT_WAIT_MS, 10000).

-type why() :: not_clustered | not_running | {missing, [node()]}
             | mnesia_not_running | {db_missing, [node()]}
             | {merging, [node()]} | no_table | no_local_copy | not_loaded.

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% --- queries (no call to the server) ----------------------------------------

-spec configured() -> boolean().
configured() ->
    persistent_term:get(?EXPECTED, undefined) =/= undefined.

%% true when clustering is configured, every expected peer is connected and
%% runs mnesia with this node, no merge after a split is pending, and the
%% table has a loaded local copy.
-spec ready() -> true | why().
ready() ->
    case persistent_term:get(?EXPECTED, undefined) of
        undefined -> not_clustered;
        Expected ->
            case whereis(?MODULE) of
                undefined -> not_running;
                _ -> ready(Expected)
            end
    end.

ready(Expected) ->
    case Expected -- nodes() of
        [] ->
            case mnesia:system_info(is_running) of
                yes ->
                    case Expected -- mnesia:system_info(running_db_nodes) of
                        [] ->
                            case persistent_term:get(?MERGING, []) of
                                [] -> local_copy();
                                Merging -> {merging, Merging}
                            end;
                        NotInDb ->
                            {db_missing, NotInDb}
                    end;
                _ ->
                    mnesia_not_running
            end;
        Missing ->
            {missing, Missing}
    end.

%% Whether this node can serve the store from its own copy.
local_copy() ->
    try mnesia:table_info(?TAB, where_to_read) of
        Node when Node =:= node() -> true;
        _ ->
            case lists:member(node(), mnesia:table_info(?TAB, all_nodes)) of
                true -> not_loaded;
                false -> no_local_copy
            end
    catch
        exit:_ -> no_table
    end.

%% What GET /cluster shows.
-spec info() -> map().
info() ->
    case persistent_term:get(?EXPECTED, undefined) of
        undefined ->
            #{clustered => false, members => [node()], expected => [],
              db_nodes => [], ready => false, why => not_clustered};
        Expected ->
            Ready = ready(),
            #{clustered => true,
              members => lists:usort([node() | [N || N <- Expected,
                                                     lists:member(N, nodes())]]),
              expected => Expected,
              db_nodes => db_nodes(),
              ready => Ready =:= true,
              why => case Ready of true -> null; _ -> Ready end}
    end.

db_nodes() ->
    try mnesia:system_info(is_running) of
        yes -> lists:sort(mnesia:system_info(running_db_nodes));
        _ -> []
    catch
        _:_ -> []
    end.

%% --- the store ---------------------------------------------------------------
%% Usable when this node's copy is loaded (the other peers need not be up:
%% a write commits on the replicas that run).

store() ->
    case configured() of
        false -> not_clustered;
        true ->
            case mnesia:system_info(is_running) of
                yes -> local_copy();
                _ -> mnesia_not_running
            end
    end.

%% ok once the write is committed on every running replica.
-spec kv_put(binary(), binary()) -> ok | {error, term()}.
kv_put(Key, Value) ->
    case store() of
        true ->
            Write = fun() -> mnesia:write({?TAB, Key, Value}) end,
            case mnesia:sync_transaction(Write) of
                {atomic, ok} -> ok;
                {aborted, Reason} -> {error, {aborted, Reason}}
            end;
        Why ->
            {error, Why}
    end.

-spec kv_get(binary()) -> {ok, binary()} | not_found | {error, term()}.
kv_get(Key) ->
    case store() of
        true ->
            try mnesia:dirty_read(?TAB, Key) of
                [{?TAB, Key, Value}] -> {ok, Value};
                [] -> not_found
            catch
                exit:{aborted, Reason} -> {error, {aborted, Reason}}
            end;
        Why ->
            {error, Why}
    end.

%% The keys held by this node's copy, sorted.
-spec kv_keys() -> {ok, [binary()]} | {error, term()}.
kv_keys() ->
    case store() of
        true ->
            try {ok, lists:sort(mnesia:dirty_all_keys(?TAB))}
            catch
                exit:{aborted, Reason} -> {error, {aborted, Reason}}
            end;
        Why ->
            {error, Why}
    end.

%% --- the server ----------------------------------------------------------------

init([]) ->
    case configured_peers() of
        [] ->
            _ = persistent_term:erase(?EXPECTED),
            _ = persistent_term:erase(?MERGING),
            ignore;
        Peers ->
            Expected = lists:usort(Peers) -- [node()],
            persistent_term:put(?EXPECTED, Expected),
            _ = (catch net_kernel:monitor_nodes(true)),
            case is_alive() of
                true -> ok;
                false -> logger:warning("beamops_sample cluster: peers ~p configured "
                                        "but this node is not distributed", [Expected])
            end,
            logger:notice("beamops_sample cluster: node ~p, expected peers ~p",
                          [node(), Expected]),
            S = set_merging([], #{expected => Expected, logged => #{}}),
            {ok, S, {continue, tick}}
    end.

handle_continue(tick, S) ->
    {noreply, tick(S)}.

handle_call({isolate, Ms}, _From, S = #{expected := Expected}) ->
    Until = erlang:monotonic_time(millisecond) + Ms,
    case Ms > 0 of
        true ->
            [erlang:set_cookie(P, beamops_sample_isolated) || P <- Expected],
            [erlang:disconnect_node(P) || P <- Expected],
            logger:warning("beamops_sample cluster: isolated from ~p for ~p ms", [Expected, Ms]),
            {reply, ok, S#{isolated_until => Until}};
        false ->
            {reply, ok, end_isolation(S)}
    end;
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(tick, S) ->
    {noreply, tick(S)};
handle_info({nodeup, Node}, S) ->
    logger:notice("beamops_sample cluster: nodeup ~p", [Node]),
    {noreply, S};
handle_info({nodedown, Node}, S) ->
    logger:notice("beamops_sample cluster: nodedown ~p", [Node]),
    {noreply, S};
handle_info({mnesia_system_event, Event}, S) ->
    case Event of
        {mnesia_up, Node} ->
            logger:notice("beamops_sample cluster: mnesia up on ~p", [Node]);
        {mnesia_down, Node} ->
            logger:notice("beamops_sample cluster: mnesia down on ~p", [Node]);
        {inconsistent_database, Context, Node} ->
            %% Both sides ran while cut off from each other: the writes
            %% each side took meanwhile are on its side only.
            logger:warning("beamops_sample cluster: inconsistent database with ~p (~p): "
                           "merging", [Node, Context]);
        _ ->
            ok
    end,
    case Event of
        {inconsistent_database, _, Peer} ->
            case lists:member(Peer, maps:get(expected, S)) of
                true -> {noreply, set_merging(lists:usort([Peer | maps:get(merging, S)]), S)};
                false -> {noreply, S}
            end;
        _ ->
            {noreply, S}
    end;
handle_info(_Info, S) ->
    %% Includes the 'DOWN' of a connection attempt given up on.
    {noreply, S}.

terminate(_Reason, _S) ->
    ok.

code_change(_OldVsn, S, _Extra) ->
    {ok, S}.

%% --- the fault switch -----------------------------------------------------------

-spec isolate(non_neg_integer()) -> ok | {error, term()}.
isolate(Ms) when is_integer(Ms), Ms >= 0 ->
    case configured() of
        true -> gen_server:call(?MODULE, {isolate, Ms}, 30000);
        false -> {error, not_clustered}
    end.

end_isolation(S = #{expected := Expected}) ->
    case maps:is_key(isolated_until, S) of
        true ->
            [erlang:set_cookie(P, erlang:get_cookie()) || P <- Expected],
            logger:warning("beamops_sample cluster: isolation ended"),
            maps:remove(isolated_until, S);
        false ->
            S
    end.

%% --- one round -----------------------------------------------------------------

tick(S0) ->
    S = try run_round(S0)
        catch Class:Reason:Stack ->
                logger:error("beamops_sample cluster: round failed: ~p:~p ~p",
                             [Class, Reason, Stack]),
                S0
        end,
    erlang:send_after(?TICK_MS, self(), tick),
    S.

run_round(S = #{isolated_until := Until}) ->
    case erlang:monotonic_time(millisecond) < Until of
        true -> S;
        false -> run_round(end_isolation(S))
    end;
run_round(S0 = #{expected := Expected}) ->
    case ensure_mnesia(S0) of
        {ok, S1} ->
            Connected = connect(Expected),
            S2 = join(Connected, S1),
            S3 = table(Expected, Connected, S2),
            S4 = merge(S3),
            note(ready, ready(), S4);
        {error, S1} ->
            S1
    end.

ensure_mnesia(S) ->
    case mnesia:system_info(is_running) of
        yes ->
            {ok, S};
        _ ->
            %% A RAM schema: nothing on disc, a restarted node starts empty
            %% and takes the cluster's schema when it joins.
            _ = application:load(mnesia),
            ok = application:set_env(mnesia, schema_location, ram),
            case mnesia:start() of
                ok ->
                    _ = mnesia:subscribe(system),
                    logger:notice("beamops_sample cluster: mnesia started (ram schema)"),
                    {ok, S};
                {error, Reason} ->
                    {error, note(mnesia, {start_failed, Reason}, S)}
            end
    end.

%% Connects the expected peers that are not connected, side by side (each
%% attempt ends within net_setuptime); the connected peers.
connect(Expected) ->
    Attempts = [spawn_monitor(fun() -> net_kernel:connect_node(P) end)
                || P <- Expected -- nodes()],
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_WAIT_MS,
    lists:foreach(fun({_Pid, Ref}) -> await(Ref, Deadline) end, Attempts),
    [P || P <- Expected, lists:member(P, nodes())].

await(Ref, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {'DOWN', Ref, process, _, _} -> ok
    after Left ->
            demonitor(Ref, [flush])
    end.

join(Connected, S) ->
    case Connected -- mnesia:system_info(running_db_nodes) of
        [] ->
            S;
        New ->
            case mnesia:change_config(extra_db_nodes, New) of
                {ok, []} ->
                    %% Their mnesia is not up yet: the next round tries again.
                    S;
                {ok, Added} ->
                    logger:notice("beamops_sample cluster: mnesia runs with ~p", [Added]),
                    note(join, ok, S);
                {error, Reason} ->
                    note(join, {error, New, Reason}, S)
            end
    end.

table(Expected, Connected, S) ->
    case lists:member(?TAB, mnesia:system_info(tables)) of
        true -> ensure_copy(S);
        false -> maybe_create(Expected, Connected, S)
    end.

ensure_copy(S) ->
    case lists:member(node(), mnesia:table_info(?TAB, all_nodes)) of
        true ->
            S;
        false ->
            case mnesia:add_table_copy(?TAB, node(), ram_copies) of
                {atomic, ok} ->
                    logger:notice("beamops_sample cluster: added a copy of ~p", [?TAB]),
                    S;
                {aborted, {already_exists, _, _}} ->
                    S;
                {aborted, Reason} ->
                    note(copy, {add_table_copy, Reason}, S)
            end
    end.

maybe_create(Expected, Connected, S) ->
    Creator = lists:min([node() | Expected]),
    NotConnected = Expected -- Connected,
    NotInDb = Expected -- mnesia:system_info(running_db_nodes),
    if
        Creator =/= node() ->
            note(create, {waiting_for_creator, Creator}, S);
        NotConnected =/= [] ->
            note(create, {waiting_for, NotConnected}, S);
        NotInDb =/= [] ->
            note(create, {waiting_for_mnesia_on, NotInDb}, S);
        true ->
            Opts = [{type, set}, {attributes, [key, value]},
                    {ram_copies, [node() | Expected]}],
            case mnesia:create_table(?TAB, Opts) of
                {atomic, ok} ->
                    logger:notice("beamops_sample cluster: created ~p on ~p",
                                  [?TAB, [node() | Expected]]),
                    note(create, created, S);
                {aborted, {already_exists, ?TAB}} ->
                    S;
                {aborted, Reason} ->
                    note(create, {create_table, Reason}, S)
            end
    end.

%% --- merge after a split ---------------------------------------------------------
%% With each peer named by an inconsistent_database, once it runs mnesia with
%% this node again and this node's copy is loaded.

merge(S = #{merging := []}) ->
    S;
merge(S = #{merging := Merging}) ->
    case local_copy() of
        true ->
            Running = mnesia:system_info(running_db_nodes),
            Done = [P || P <- Merging, lists:member(P, Running), merge_with(P) =:= ok],
            set_merging(Merging -- Done, S);
        _ ->
            S
    end.

merge_with(Peer) ->
    All = [{'_', [], ['$_']}],
    case rpc:call(Peer, mnesia, dirty_select, [?TAB, All], ?MERGE_RPC_MS) of
        Theirs when is_list(Theirs) ->
            Mine = maps:from_list([{K, V} || {_, K, V} <- mnesia:dirty_select(?TAB, All)]),
            PeerWins = Peer < node(),
            Fixes = [{K, V, maps:get(K, Mine, absent)}
                     || {_, K, V} <- Theirs,
                        case maps:find(K, Mine) of
                            error -> true;
                            {ok, V} -> false;
                            {ok, _} -> PeerWins
                        end],
            case [R || {K, V, Seen} <- Fixes, (R = fix(K, V, Seen)) =/= ok] of
                [] ->
                    logger:notice("beamops_sample cluster: merged with ~p: ~p record(s) "
                                  "taken from its copy", [Peer, length(Fixes)]),
                    ok;
                [Error | _] ->
                    logger:warning("beamops_sample cluster: merge with ~p: ~p", [Peer, Error]),
                    error
            end;
        Other ->
            logger:warning("beamops_sample cluster: merge with ~p: its copy: ~p", [Peer, Other]),
            error
    end.

%% Writes the peer's record unless the key changed since it was compared (a
%% newer write, replicated to both sides, wins).
fix(Key, Value, Seen) ->
    Fix = fun() ->
                  Now = case mnesia:read(?TAB, Key, write) of
                            [{_, _, V}] -> V;
                            [] -> absent
                        end,
                  case Now =:= Seen of
                      true -> mnesia:write({?TAB, Key, Value});
                      false -> ok
                  end
          end,
    case mnesia:sync_transaction(Fix) of
        {atomic, ok} -> ok;
        {aborted, Reason} -> {aborted, Key, Reason}
    end.

set_merging(Merging, S) ->
    case persistent_term:get(?MERGING, undefined) of
        Merging -> ok;
        _ -> persistent_term:put(?MERGING, Merging)
    end,
    S#{merging => Merging}.

%% Logs Term under Key when it differs from the last one logged there (a
%% state that lasts is said once, not every second).
note(Key, Term, S = #{logged := Logged}) ->
    case maps:get(Key, Logged, undefined) of
        Term ->
            S;
        _ ->
            Level = case Term of
                        {error, _, _} -> warning;
                        {add_table_copy, _} -> warning;
                        {create_table, _} -> warning;
                        {start_failed, _} -> warning;
                        _ -> notice
                    end,
            logger:log(Level, "beamops_sample cluster: ~p: ~p", [Key, Term]),
            S#{logged := Logged#{Key => Term}}
    end.

%% --- configuration -------------------------------------------------------------

configured_peers() ->
    case os:getenv("BEAMOPS_SAMPLE_PEERS") of
        Value when is_list(Value) ->
            case string:trim(Value) of
                "" -> app_peers();
                _ -> [list_to_atom(N) || Part <- string:split(Value, ",", all),
                                         N <- [string:trim(Part)], N =/= ""]
            end;
        false ->
            app_peers()
    end.

app_peers() ->
    case application:get_env(beamops_sample, cluster_peers, []) of
        Peers when is_list(Peers) ->
            [to_node(P) || P <- Peers];
        Other ->
            logger:warning("beamops_sample cluster: cluster_peers ~p is not a list",
                           [Other]),
            []
    end.

to_node(P) when is_atom(P) -> P;
to_node(P) when is_binary(P) -> binary_to_atom(P, utf8);
to_node(P) when is_list(P) -> list_to_atom(P).
