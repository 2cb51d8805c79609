defmodule StockMix.Http do
  @moduledoc """
  The only code added to what `mix new stock_mix --sup` wrote: a tiny HTTP endpoint for the
  beamops.deploy test bed, on port 8080.

  `GET /health` -> 200; `GET /` -> JSON with the release version, node, OS pid and requests
  served; `GET /slow?ms=N` -> the same after N ms (at most 10000). Every answer carries
  `x-beamops-version` (the application's vsn) and `x-beamops-node`.
  """
  use GenServer

  @port 8080
  @acceptors 8
  @max_slow_ms 10_000

  def start_link(_arg), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @impl true
  def init(nil) do
    Process.flag(:trap_exit, true)
    opts = [:binary, packet: :http_bin, active: false, reuseaddr: true, backlog: 256]

    case :gen_tcp.listen(@port, opts) do
      {:ok, listen} ->
        for _ <- 1..@acceptors, do: spawn_acceptor(listen)
        {:ok, %{listen: listen, served: 0, started_at: System.system_time(:millisecond)}}

      {:error, reason} ->
        {:stop, {:listen, @port, reason}}
    end
  end

  @impl true
  def handle_call(:served, _from, state), do: {:reply, state, %{state | served: state.served + 1}}

  @impl true
  def handle_info({:EXIT, _pid, _reason}, state) do
    spawn_acceptor(state.listen)
    {:noreply, state}
  end

  def handle_info(_info, state), do: {:noreply, state}

  defp spawn_acceptor(listen), do: spawn_link(__MODULE__, :accept_loop, [listen, self()])

  @doc false
  def accept_loop(listen, server) do
    case :gen_tcp.accept(listen, 500) do
      {:ok, sock} ->
        pid = spawn(__MODULE__, :serve, [server])

        case :gen_tcp.controlling_process(sock, pid) do
          :ok ->
            send(pid, {:serve, sock})

          {:error, _} ->
            Process.exit(pid, :kill)
            :gen_tcp.close(sock)
        end

      {:error, :timeout} ->
        :ok

      {:error, :closed} ->
        exit(:closed)

      {:error, _} ->
        Process.sleep(100)
    end

    __MODULE__.accept_loop(listen, server)
  end

  @doc false
  def serve(server) do
    receive do
      {:serve, sock} ->
        try do
          case read_request(sock) do
            {:GET, path} -> reply(sock, route(path, server))
            {_, _} -> reply(sock, {405, error: "method not allowed"})
          end
        catch
          _, _ -> :ok
        end

        :gen_tcp.close(sock)
    after
      5000 -> :ok
    end
  end

  defp read_request(sock) do
    {:ok, {:http_request, method, {:abs_path, path}, _}} = :gen_tcp.recv(sock, 0, 5000)
    skip_headers(sock)
    {method, path}
  end

  defp skip_headers(sock) do
    case :gen_tcp.recv(sock, 0, 5000) do
      {:ok, :http_eoh} -> :ok
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(sock)
    end
  end

  defp route("/health", _server), do: {200, status: "ok"}
  defp route("/", server), do: {200, about(server)}

  defp route("/slow" <> query, server) do
    ms = min(slow_ms(query), @max_slow_ms)
    Process.sleep(ms)
    {200, [slept_ms: ms] ++ about(server)}
  end

  defp route(_path, _server), do: {404, error: "not found"}

  defp slow_ms("?ms=" <> digits) do
    case Integer.parse(digits) do
      {ms, ""} when ms >= 0 -> ms
      _ -> 1000
    end
  end

  defp slow_ms(_query), do: 1000

  defp about(server) do
    state = GenServer.call(server, :served)

    [
      version: version(),
      node: Atom.to_string(node()),
      pid: List.to_string(:os.getpid()),
      served: state.served,
      started_at: state.started_at
    ]
  end

  defp version, do: :stock_mix |> Application.spec(:vsn) |> to_string()

  defp reply(sock, {status, fields}) do
    body = json(fields)

    head = [
      "HTTP/1.1 #{status} #{reason(status)}\r\n",
      "content-type: application/json\r\nconnection: close\r\n",
      "content-length: #{IO.iodata_length(body)}\r\n",
      "x-beamops-version: #{version()}\r\nx-beamops-node: #{node()}\r\n\r\n"
    ]

    :gen_tcp.send(sock, [head, body])
  end

  defp reason(200), do: "OK"
  defp reason(404), do: "Not Found"
  defp reason(405), do: "Method Not Allowed"

  # A flat JSON object of integers and plain strings (no quoting needed).
  defp json(fields) do
    pairs = for {key, value} <- fields, do: [?", Atom.to_string(key), "\":", value(value)]
    [?{, Enum.intersperse(pairs, ?,), ?}]
  end

  defp value(value) when is_integer(value), do: Integer.to_string(value)
  defp value(value) when is_binary(value), do: [?", value, ?"]
end
