defmodule BeamopsEx.Counter do
  @moduledoc """
  Counter, version 2.0.0: the state is a map (cold deploys only, so the
  count starts again from 0 after the restart).
  """
  use GenServer

  def start_link(_arg), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)
  def incr, do: GenServer.call(__MODULE__, :incr)
  def value, do: GenServer.call(__MODULE__, :value)

  @impl true
  def init([]), do: {:ok, %{count: 0, started_at: System.system_time(:millisecond)}}

  @impl true
  def handle_call(:incr, _from, state) do
    state = %{state | count: state.count + 1}
    {:reply, info(state), state}
  end

  def handle_call(:value, _from, state), do: {:reply, info(state), state}

  defp info(state), do: %{count: state.count, state_shape: "map", started_at: state.started_at}
end
