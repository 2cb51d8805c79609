defmodule BeamopsEx.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    # GET /pid reports it, so a restart inside the same OS process shows.
    :persistent_term.put({:beamops_ex, :started_at}, System.system_time(:millisecond))

    children = [
      BeamopsEx.Counter,
      BeamopsEx.Listener
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: BeamopsEx.Supervisor)
  end
end
