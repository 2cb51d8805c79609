defmodule BeamopsEx.Listener do
  @moduledoc """
  Owns the listening socket and a fixed pool of acceptors running
  `BeamopsEx.HTTP.acceptor_loop/1`.
  """
  use GenServer
  require Logger

  def start_link(_arg), do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  def child_spec(arg) do
    %{id: __MODULE__, start: {__MODULE__, :start_link, [arg]}, shutdown: 2000}
  end

  @doc "The port in use."
  def port, do: GenServer.call(__MODULE__, :port)

  @impl true
  def init([]) do
    Process.flag(:trap_exit, true)
    port = configured_port()

    opts = [:binary, packet: :http_bin, active: false, reuseaddr: true, backlog: 1024, nodelay: true]

    case :gen_tcp.listen(port, opts) do
      {:ok, lsock} ->
        n = Application.get_env(:beamops_ex, :acceptors, 8)
        acceptors = for _ <- 1..n, do: start_acceptor(lsock)
        Logger.notice("beamops_ex listening on port #{port} (#{n} acceptors)")
        {:ok, %{lsock: lsock, port: port, acceptors: acceptors}}

      {:error, reason} ->
        {:stop, {:listen_failed, port, reason}}
    end
  end

  @impl true
  def handle_call(:port, _from, state), do: {:reply, state.port, state}

  @impl true
  def handle_info({:EXIT, pid, reason}, state) do
    if pid in state.acceptors do
      Logger.warning("acceptor #{inspect(pid)} exited: #{inspect(reason)}")
      new = start_acceptor(state.lsock)
      {:noreply, %{state | acceptors: [new | List.delete(state.acceptors, pid)]}}
    else
      {:noreply, state}
    end
  end

  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def terminate(_reason, state), do: :gen_tcp.close(state.lsock)

  defp start_acceptor(lsock), do: :proc_lib.spawn_link(BeamopsEx.HTTP, :acceptor_loop, [lsock])

  defp configured_port do
    case System.get_env("BEAMOPS_SAMPLE_PORT") do
      value when is_binary(value) and value != "" -> value |> String.trim() |> String.to_integer()
      _ -> Application.get_env(:beamops_ex, :port, 8080)
    end
  end
end
