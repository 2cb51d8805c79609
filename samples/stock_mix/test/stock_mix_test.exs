defmodule StockMixTest do
  use ExUnit.Case
  doctest StockMix

  test "greets the world" do
    assert StockMix.hello() == :world
  end
end
