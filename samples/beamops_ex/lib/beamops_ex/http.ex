defmodule BeamopsEx.HTTP do
  @moduledoc """
  Minimal HTTP/1.1 on :gen_tcp, same contract as the Erlang sample:
  one process per connection, one request per connection, JSON answers
  with `connection: close`, `x-beamops-version` and `x-beamops-node`.
  """
  require Logger

  @accept_timeout 500
  @recv_timeout 10_000
  @max_slow_ms 10_000

  def acceptor_loop(lsock) do
    case :gen_tcp.accept(lsock, @accept_timeout) do
      {:ok, sock} ->
        # Not linked: a connection outlives its acceptor; it is still killed
        # when the application stops (same group leader).
        pid = :proc_lib.spawn(__MODULE__, :connection, [])

        case :gen_tcp.controlling_process(sock, pid) do
          :ok ->
            send(pid, {:socket, sock})

          {:error, _} ->
            Process.exit(pid, :kill)
            :gen_tcp.close(sock)
        end

      {:error, :timeout} ->
        :ok

      {:error, :closed} ->
        exit(:normal)

      {:error, reason} ->
        Logger.warning("accept failed: #{inspect(reason)}")
        Process.sleep(100)
    end

    __MODULE__.acceptor_loop(lsock)
  end

  def connection do
    receive do
      {:socket, sock} ->
        try do
          serve(sock)
        after
          :gen_tcp.close(sock)
        end
    after
      5000 -> exit(:no_socket)
    end
  end

  defp serve(sock) do
    case :gen_tcp.recv(sock, 0, @recv_timeout) do
      {:ok, {:http_request, method, {:abs_path, uri}, _vsn}} ->
        if read_headers(sock) == :ok do
          {status, body} = route(method, uri)
          reply(sock, status, body)
        end

      {:ok, {:http_request, _, _, _}} ->
        reply(sock, 400, %{error: "bad_request"})

      {:ok, {:http_error, _}} ->
        reply(sock, 400, %{error: "bad_request"})

      {:error, _} ->
        :ok
    end
  end

  defp read_headers(sock) do
    case :gen_tcp.recv(sock, 0, @recv_timeout) do
      {:ok, {:http_header, _, _, _, _}} -> read_headers(sock)
      {:ok, :http_eoh} -> :ok
      {:ok, {:http_error, _}} -> read_headers(sock)
      {:error, _} -> :error
    end
  end

  defp route(:GET, uri) do
    %URI{path: path, query: query} = URI.parse(uri)
    params = if query, do: URI.decode_query(query), else: %{}
    handle_get(path, params)
  end

  defp route(_method, _uri), do: {405, Map.put(base(), :error, "method_not_allowed")}

  defp handle_get("/", _), do: {200, base()}
  defp handle_get("/counter", _), do: {200, Map.merge(base(), BeamopsEx.Counter.incr())}
  defp handle_get("/counter/value", _), do: {200, Map.merge(base(), BeamopsEx.Counter.value())}

  defp handle_get("/slow", params) do
    ms = slow_ms(params)
    Process.sleep(ms)
    {200, Map.put(base(), :slept_ms, ms)}
  end

  defp handle_get("/health", _), do: {200, Map.put(base(), :status, "ok")}

  defp handle_get("/pid", _) do
    started_at = :persistent_term.get({:beamops_ex, :started_at}, nil)
    {200, Map.merge(base(), %{pid: String.to_integer(System.pid()), app_started_at: started_at})}
  end

  defp handle_get(path, _), do: {404, Map.merge(base(), %{error: "not_found", path: path})}

  defp slow_ms(params) do
    ms =
      case Integer.parse(Map.get(params, "ms", "1000")) do
        {n, ""} -> n
        _ -> 1000
      end

    ms |> max(0) |> min(@max_slow_ms)
  end

  # The version as the running code sees it now.
  defp version do
    case Application.spec(:beamops_ex, :vsn) do
      nil -> "unknown"
      vsn -> List.to_string(vsn)
    end
  end

  defp node_name, do: Atom.to_string(node())

  defp base, do: %{version: version(), node: node_name()}

  defp reply(sock, status, body) do
    json = BeamopsEx.JSON.encode(body)

    head = [
      "HTTP/1.1 #{status} #{reason(status)}\r\n",
      "content-type: application/json\r\n",
      "content-length: #{IO.iodata_length(json)}\r\n",
      "connection: close\r\n",
      "x-beamops-version: #{version()}\r\n",
      "x-beamops-node: #{node_name()}\r\n",
      "\r\n"
    ]

    _ = :inet.setopts(sock, packet: :raw)
    _ = :gen_tcp.send(sock, [head, json])
    _ = :gen_tcp.shutdown(sock, :write)
    :ok
  end

  defp reason(200), do: "OK"
  defp reason(400), do: "Bad Request"
  defp reason(404), do: "Not Found"
  defp reason(405), do: "Method Not Allowed"
  defp reason(500), do: "Internal Server Error"
  defp reason(_), do: "Unknown"
end
