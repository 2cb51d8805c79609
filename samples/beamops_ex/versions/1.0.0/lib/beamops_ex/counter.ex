defmodule BeamopsEx.Counter do
  @moduledoc "Counter, version 1.0.0: the state is a plain integer."
  use GenServer

  def start_link(_arg), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def incr, do: GenServer.call(__MODULE__, :incr)
  def value, do: GenServer.call(__MODULE__, :value)

  @impl true
  def init([]), do: {:ok, 0}

  @impl true
  def handle_call(:incr, _from, n), do: {:reply, info(n + 1), n + 1}
  def handle_call(:value, _from, n), do: {:reply, info(n), n}

  defp info(n), do: %{count: n, state_shape: "integer"}
end
