%% Tiny JSON encoder (no dependencies): maps with atom/binary keys, binaries,
%% printable strings, integers, floats, true/false/null and lists.
-module(beamops_sample_json).

-export([encode/1]).

encode(Map) when is_map(Map) ->
    Pairs = [[string(key(K)), $:, encode(V)]
             || {K, V} <- lists:sort(maps:to_list(Map))],
    [${, lists:join($,, Pairs), $}];
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(undefined) -> <<"null">>;
encode(A) when is_atom(A) -> string(atom_to_binary(A, utf8));
encode(B) when is_binary(B) -> string(B);
encode(I) when is_integer(I) -> integer_to_binary(I);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true when L =/= [] -> string(unicode:characters_to_binary(L));
        _ -> [$[, lists:join($,, [encode(E) || E <- L]), $]]
    end.

key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) when is_binary(K) -> K;
key(K) when is_list(K) -> unicode:characters_to_binary(K).

string(Bin) ->
    [$", [escape(C) || <<C/utf8>> <= Bin], $"].

escape($") -> <<"\\\"">>;
escape($\\) -> <<"\\\\">>;
escape($\n) -> <<"\\n">>;
escape($\r) -> <<"\\r">>;
escape($\t) -> <<"\\t">>;
escape(C) when C < 16#20 ->
    io_lib:format("\\u~4.16.0b", [C]);
escape(C) ->
    <<C/utf8>>.
