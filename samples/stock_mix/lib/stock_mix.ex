defmodule StockMix do
  @moduledoc """
  Documentation for `StockMix`.
  """

  @doc """
  Hello world.

  ## Examples

      iex> StockMix.hello()
      :world

  """
  def hello do
    :world
  end
end
