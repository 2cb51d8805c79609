defmodule BeamopsEx.JSON do
  @moduledoc "Tiny JSON encoder (no dependencies): maps, strings, numbers, booleans, nil, lists."

  def encode(map) when is_map(map) do
    pairs =
      map
      |> Enum.map(fn {k, v} -> {to_string(k), v} end)
      |> Enum.sort()
      |> Enum.map(fn {k, v} -> [string(k), ?:, encode(v)] end)

    [?{, Enum.intersperse(pairs, ?,), ?}]
  end

  def encode(true), do: "true"
  def encode(false), do: "false"
  def encode(nil), do: "null"
  def encode(atom) when is_atom(atom), do: string(Atom.to_string(atom))
  def encode(bin) when is_binary(bin), do: string(bin)
  def encode(int) when is_integer(int), do: Integer.to_string(int)
  def encode(float) when is_float(float), do: Float.to_string(float)
  def encode(list) when is_list(list), do: [?[, Enum.intersperse(Enum.map(list, &encode/1), ?,), ?]]

  defp string(bin), do: [?", for(<<c::utf8 <- bin>>, do: escape(c)), ?"]

  defp escape(?"), do: "\\\""
  defp escape(?\\), do: "\\\\"
  defp escape(?\n), do: "\\n"
  defp escape(?\r), do: "\\r"
  defp escape(?\t), do: "\\t"

  defp escape(c) when c < 0x20,
    do: "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")

  defp escape(c), do: <<c::utf8>>
end
