# Template: samples/build.sh copies this tree to .build/samples-work and
# replaces @VSN@ with the version being built. No dependencies (no hex).
defmodule BeamopsEx.MixProject do
  use Mix.Project

  def project do
    [
      app: :beamops_ex,
      version: "@VSN@",
      elixir: "~> 1.14",
      start_permanent: true,
      deps: [],
      releases: [
        beamops_ex: [
          include_erts: true,
          include_executables_for: [:unix],
          steps: [:assemble, :tar]
        ]
      ]
    ]
  end

  def application do
    [
      mod: {BeamopsEx.Application, []},
      extra_applications: [:logger],
      # port: overridden by the OS env BEAMOPS_SAMPLE_PORT when set at start.
      env: [port: 8080, acceptors: 8]
    ]
  end
end
