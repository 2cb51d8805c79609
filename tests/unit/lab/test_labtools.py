# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab toolkit's readers that every scenario shares: a real ansible-playbook's PLAY RECAP, HAProxy's
`show servers state` from a loopback server speaking its format, and the figures a test module saves."""

import json
import os
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import labtools
import pytest

TWO_PLAYS = """
- name: First play, both hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: A change
      ansible.builtin.command: "true"
    - name: No change
      ansible.builtin.debug: {msg: x}
- name: Second play, one host
  hosts: one
  gather_facts: false
  tasks:
    - name: Another change
      ansible.builtin.command: "true"
    - name: Skipped
      ansible.builtin.command: "true"
      when: false
"""


def run_in(cwd: Path, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """A real ansible-playbook or pytest run in ``cwd``, its output captured; two minutes at the most."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_recap_sums_a_real_runs_counters_over_its_plays(tmp_path):
    (tmp_path / "play.yml").write_text(TWO_PLAYS)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "one,two,", "-c", "local", "play.yml"]
    argv += ["-e", f"ansible_python_interpreter={sys.executable}"]
    run = run_in(tmp_path, argv, env)
    assert run.returncode == 0, run.stdout + run.stderr
    counters = labtools.recap(run.stdout)
    assert set(counters) == {"one", "two"}
    assert (counters["one"]["ok"], counters["one"]["changed"], counters["one"]["skipped"]) == (3, 2, 1)
    assert (counters["two"]["ok"], counters["two"]["changed"], counters["two"]["skipped"]) == (2, 1, 0)
    assert counters["one"]["failed"] == 0 and counters["one"]["unreachable"] == 0


def test_recap_of_output_without_a_recap_is_empty():
    assert labtools.recap("ERROR! the playbook could not be found\n") == {}


STATE_ANSWER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n"
    "3 beam_nodes 1 node1 10.0.0.1 2 0 1\n3 beam_nodes 2 node2 10.0.0.2 2 8 1\n"
    "3 beam_nodes 3 node3 10.0.0.3 0 1 0\n\n"
)


@pytest.fixture
def admin_socket():
    """A TCP server answering one command per connection like HAProxy's admin socket; its commands."""
    commands = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            commands.append(self.rfile.readline().decode().strip())
            self.wfile.write(STATE_ANSWER.encode())

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address, commands
    server.shutdown()
    server.server_close()


def test_servers_state_reads_each_member_by_name(admin_socket):
    address, commands = admin_socket
    rows = labtools.servers_state("beam_nodes", addr=address)
    assert commands == ["show servers state beam_nodes"]
    assert list(rows) == ["node1", "node2", "node3"]
    assert (rows["node2"]["srv_admin_state"], rows["node3"]["srv_op_state"], rows["node3"]["srv_uweight"]) == (
        "8",
        "0",
        "0",
    )


def test_admin_states_name_ready_drain_and_maint_from_the_admin_bits(admin_socket):
    address, commands = admin_socket
    assert labtools.admin_states("beam_nodes", addr=address) == {"node1": "ready", "node2": "drain", "node3": "maint"}
    assert commands == ["show servers state beam_nodes"]


def test_deploy_vars_name_the_strategy_its_version_and_the_sample_tarball():
    # The hot_upgrade playbook takes the rolling role's variables.
    extra = labtools.deploy_vars("hot_upgrade", "1.2.0", rolling_drain=True)
    assert extra == {
        "rolling_app_name": labtools.APP,
        "rolling_version": "1.2.0",
        "rolling_src": f"{labtools.RELEASES_DIR}/{labtools.APP}-1.2.0.tar.gz",
        "rolling_drain": True,
    }
    assert labtools.deploy_vars("blue_green", "1.1.0")["blue_green_version"] == "1.1.0"
    assert labtools.deploy_vars("rolling", "0.2.0", app="stock_mix")["rolling_src"].endswith("/stock_mix-0.2.0.tar.gz")


def test_scenario_figures_are_saved_once_the_module_is_done(tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import labtools\n"
        'FIGURES, figures = labtools.scenario_figures("sample", also="sample.json")\n'
        'def test_one():\n    FIGURES["one"] = 1\n'
        'def test_two(figures):\n    assert figures is FIGURES\n    FIGURES["two"] = 2\n'
    )
    lab = Path(labtools.__file__).parent
    env = dict(os.environ, BEAMOPS_BUILD_DIR=str(tmp_path / "build"), BEAMOPS_LAB="h3unit", PYTHONPATH=str(lab))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "test_x.py"]
    run = run_in(tmp_path, argv, env)
    assert run.returncode == 0, run.stdout + run.stderr
    saved = tmp_path / "build" / "figures" / "h3unit-sample.json"
    assert json.loads(saved.read_text()) == {"one": 1, "two": 2}
    assert json.loads((saved.parent / "sample.json").read_text()) == {"one": 1, "two": 2}


@pytest.mark.parametrize(
    "output",
    [
        '    "msg": [\n        "Report: /r/a-1.md",\n        "JSON: /r/a-1.json"\n    ]',  # default callback
        "    msg:\n    - 'Report: /r/a-1.md'\n    - 'JSON: /r/a-1.json'",  # yaml result format (Molecule)
        "    msg:\n    - 'Report:\n      /r/a-1.md'\n    - 'JSON:\n      /r/a-1.json'",  # folded long lines
    ],
)
def test_run_report_reads_the_paths_a_run_printed_in_either_quoting(output, tmp_path):
    (tmp_path / "a-1.json").write_text('{"outcome": "ok"}')
    (tmp_path / "a-1.md").write_text("# a")
    report, summary = labtools.run_report(output.replace("/r/", f"{tmp_path}/"))
    assert report == {"outcome": "ok"} and summary == tmp_path / "a-1.md"
    with pytest.raises(AssertionError, match="printed no report paths"):
        labtools.run_report("PLAY RECAP")


def test_kept_every_request_fails_on_a_failed_run_a_lost_request_or_a_version_never_seen():
    ok = subprocess.CompletedProcess(["ansible-playbook"], 0, "PLAY RECAP", "")
    load = {"failed": 0, "versions": {"1.0.0": 5, "1.1.0": 7}}
    labtools.kept_every_request(ok, load, "1.0.0", "1.1.0")
    with pytest.raises(AssertionError, match="fatal"):
        labtools.kept_every_request(subprocess.CompletedProcess([], 2, "fatal: [n1]", ""), load)
    with pytest.raises(AssertionError, match="reset"):
        labtools.kept_every_request(ok, {**load, "failed": 1, "first_failures": ["reset"]})
    with pytest.raises(AssertionError):
        labtools.kept_every_request(ok, load, "1.2.0")


def test_lab_vars_are_the_labs_own_settings():
    settings = labtools.lab_vars()
    assert settings["lab_haproxy_backend"] == "beam_nodes"
    assert isinstance(settings["lab_node_http_port"], int)


def inventory_list(path: Path) -> dict:
    argv = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout)


def test_the_inventory_reaches_each_host_at_its_address_over_ssh_or_through_podman(tmp_path, monkeypatch):
    """A fake podman on PATH answers `inspect` with an address per container; ansible-inventory reads the result."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text('#!/bin/sh\ncase "$2" in *node1) echo "10.0.0.11 ";; *) echo "10.0.0.99 ";; esac\n')
    (bin_dir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("BEAMOPS_LAB_CONNECTION", raising=False)
    listed = inventory_list(labtools.write_inventory(tmp_path / "ssh.yml"))
    node1 = listed["_meta"]["hostvars"][labtools.NODES[0]]
    assert node1["ansible_host"] == "10.0.0.11" and node1["ansible_connection"] == "ssh"
    assert node1["ansible_pipelining"] is True and "ControlPersist" in node1["ansible_ssh_args"]
    assert listed["_meta"]["hostvars"][labtools.LB]["ansible_host"] == "10.0.0.99"
    assert set(listed["beam_nodes"]["hosts"]) == set(labtools.NODES) and listed["lb"]["hosts"] == [labtools.LB]
    colours = labtools.write_inventory(tmp_path / "c.yml", groups={"blue": labtools.NODES[:2], "green": ()})
    assert set(inventory_list(colours)["blue"]["hosts"]) == set(labtools.NODES[:2])
    one = inventory_list(labtools.write_inventory(tmp_path / "one.yml", lbs=(), nodes=(labtools.NODES[0],)))
    assert list(one["_meta"]["hostvars"]) == [labtools.NODES[0]]
    podman = labtools.write_inventory(tmp_path / "podman.yml", connection="podman").read_text()
    assert "containers.podman.podman" in podman and "ansible_host" not in podman
    with pytest.raises(ValueError, match="ssh or podman"):
        labtools.write_inventory(tmp_path / "x.yml", connection="telnet")
