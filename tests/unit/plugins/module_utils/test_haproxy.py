# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HAProxy runtime API: parsers (from real HAProxy 2.6 answers), admin bits, the wait state machine."""

from __future__ import annotations

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._haproxy import (
    HAProxyError,
    Member,
    RuntimeAPI,
    decode_admin_state,
    is_transitional,
    names_problem,
    parse_servers_state,
    parse_stat_csv,
    read_argument_spec,
    status_word,
    wait_for,
    wait_outcome,
)

# Captured from the lab's HAProxy 2.6.12 (columns cut after check_desc, rows shortened to match).
STAT_26 = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,"
    "status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,"
    "rate,rate_lim,rate_max,check_status,check_code,check_duration\n"
    "beam_nodes,lbdev-node1,0,0,3,4,,10,0,0,,0,,0,0,0,0,DRAIN,1,1,0,1,1,8,25,,1,3,1,,0,,2,0,,0,L7OK,200,0\n"
    "beam_nodes,lbdev-node2,2,2,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,5,1,0,1,1,8,25,,1,3,2,,0,,2,0,,0,L7STS,500,0\n"
    "\n"
)
SERVERS_STATE_26 = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
    "srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 beam_nodes 1 lbdev-node1 10.89.0.2 2 8 1 1 0 15 3 3 6 0 0 0 lbdev-node1 8080 - 0 0 - - 0\n"
    "3 beam_nodes 2 lbdev-node2 10.89.0.3 0 1 5 1 0 15 2 0 14 0 0 0 lbdev-node2 8080 - 0 0 - - 0\n"
    "\n"
)


def test_stat_csv_columns_by_header_name():
    rows = parse_stat_csv(STAT_26)
    assert [r["svname"] for r in rows] == ["lbdev-node1", "lbdev-node2"]
    assert rows[0]["scur"] == "3" and rows[0]["qcur"] == "0" and rows[0]["status"] == "DRAIN"
    assert rows[1]["qcur"] == "2" and rows[1]["weight"] == "5" and rows[1]["status"] == "DOWN 1/2"
    # Another column order gives the same values.
    reordered = "# status,svname,pxname,scur,qcur\nUP,n1,be,7,1\n"
    assert parse_stat_csv(reordered) == [{"status": "UP", "svname": "n1", "pxname": "be", "scur": "7", "qcur": "1"}]


@pytest.mark.parametrize("answer", ["No such proxy.\n\n", "", "Permission denied\n"])
def test_stat_csv_refuses_what_is_not_csv(answer):
    with pytest.raises(ValueError):
        parse_stat_csv(answer)


def test_servers_state_fields_by_header_name():
    rows = parse_servers_state(SERVERS_STATE_26)
    assert [(r["be_name"], r["srv_name"], r["srv_admin_state"], r["srv_uweight"]) for r in rows] == [
        ("beam_nodes", "lbdev-node1", "8", "1"),
        ("beam_nodes", "lbdev-node2", "1", "5"),
    ]
    with pytest.raises(ValueError, match="Can't find backend"):
        parse_servers_state("Can't find backend.\n\n")


@pytest.mark.parametrize(
    ("bits", "state", "flags"),
    [
        (0x00, "ready", []),
        (0x01, "maint", ["forced_maint"]),
        (0x08, "drain", ["forced_drain"]),
        (0x09, "maint", ["forced_maint", "forced_drain"]),
        (0x05, "maint", ["forced_maint", "config_maint"]),
        (0x04, "maint", ["config_maint"]),
        (0x02, "ready", ["inherited_maint"]),
        (0x10, "ready", ["inherited_drain"]),
        (0x20, "ready", ["resolution_maint"]),
        (0x48, "drain", ["forced_drain", "fqdn_changed"]),
    ],
)
def test_admin_state_decoding(bits, state, flags):
    assert decode_admin_state(bits) == {"state": state, "flags": flags}


def test_status_words():
    assert [status_word(s) for s in ("UP", "UP 1/3", "DOWN 1/2", "no check", "MAINT (via be/s)")] == [
        "UP",
        "UP",
        "DOWN",
        "NO CHECK",
        "MAINT",
    ]


def member(status="UP", admin=0, op=2, check=3, scur=0, qcur=0) -> Member:
    row = {"srv_admin_state": admin, "srv_op_state": op, "srv_check_result": check, "srv_uweight": 1}
    return Member("be", "srv", row, {"status": status, "scur": scur, "qcur": qcur})


@pytest.mark.parametrize(
    "status", ["UP 1/3", "UP 2/3", "UP, going down", "DOWN 1/2", "DOWN, going up", "NOLB 1/3", "DRAIN 1/3", "NOLB"]
)
def test_only_a_stable_up_is_up(status):
    assert is_transitional(status) or status == "NOLB"
    assert not member(status).is_up()


def test_member_health():
    assert member("UP").is_up() and member("no check").is_up()
    assert not member("DRAIN", admin=8).is_up()
    assert member("DOWN", op=0).is_down()
    assert member("MAINT", admin=1, op=0, check=2).is_down()  # maintenance over a failed check
    assert not member("MAINT", admin=1, op=0, check=3).is_down()
    assert member("MAINT (resolution)", admin=0x20, op=0).is_down()


def test_wait_outcome_per_goal():
    assert wait_outcome("up", [member("UP"), member("no check")]) == "up"
    # UP with failing checks (going down) is not up yet: a ready wait must not return on it.
    assert wait_outcome("up", [member("UP"), member("UP 1/2")]) is None
    assert wait_outcome("up", [member("UP"), member("DOWN 1/2", op=0)]) is None
    assert wait_outcome("drained", [member("DRAIN", scur=0)]) == "drained"
    assert wait_outcome("drained", [member("DRAIN", scur=1)]) is None
    assert wait_outcome("drained", [member("DRAIN", qcur=1)]) is None
    # A DOWN member is done at once, whatever its counters say.
    assert wait_outcome("drained", [member("DOWN", op=0, scur=2)]) == "member_down"
    assert wait_outcome("drained", [member("DOWN", op=0), member("DRAIN")]) == "member_down"
    assert wait_outcome("drained", [member("DOWN", op=0, scur=2), member("DRAIN", scur=1)]) is None


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_returns_without_sleeping_when_already_there():
    clock = Clock()
    outcome, _members, waited = wait_for(lambda: [member("UP")], "up", 30, 1, clock, clock.sleep)
    assert (outcome, waited, clock.sleeps) == ("up", 0.0, [])


def test_wait_for_polls_until_drained_then_times_out_otherwise():
    clock = Clock()
    counts = iter([5, 3, 1, 0])
    outcome, members, waited = wait_for(
        lambda: [member("DRAIN", scur=next(counts))], "drained", 30, 0.5, clock, clock.sleep
    )
    assert outcome == "drained" and members[0].scur == 0
    assert waited == pytest.approx(1.5) and clock.sleeps == [0.5, 0.5, 0.5]

    clock = Clock()
    outcome, members, waited = wait_for(lambda: [member("DRAIN", scur=4)], "drained", 2, 0.75, clock, clock.sleep)
    assert outcome is None and members[0].scur == 4
    assert waited == pytest.approx(2.0) and clock.sleeps == [0.75, 0.75, 0.5]


def test_runtime_api_reads_members_over_unix_and_tcp(haproxy, fake_server):
    backends = {"web": {"a": fake_server(admin=8, scur=[2, 0], weight=7)}}
    for tcp in (False, True):
        fake = haproxy(backends, tcp=tcp)
        api = RuntimeAPI(host=fake.address[0], port=fake.address[1]) if tcp else RuntimeAPI(fake.address)
        got = api.member("web", "a")
        assert (got.state, got.weight, got.status, got.flags) == ("drain", 7, "DRAIN", ["forced_drain"])
        assert api.backends_of("a") == ["web"] and api.backends_of("zz") == []
        assert api.cli_level() == "admin"


def test_runtime_api_names_what_is_unknown(haproxy):
    api = RuntimeAPI(haproxy().address)
    with pytest.raises(HAProxyError, match=r"Backend 'nope' not found .*Can't find backend"):
        api.member("nope", "node1")
    with pytest.raises(HAProxyError, match=r"Server 'ghost' not found in backend 'beam_nodes'.*node1, node2"):
        api.member("beam_nodes", "ghost")


def test_runtime_api_unreachable_sockets(tmp_path):
    with pytest.raises(HAProxyError, match=r"admin socket .*missing.sock .*does not exist.*delegate_to"):
        RuntimeAPI(str(tmp_path / "missing.sock")).command("show info")
    with pytest.raises(HAProxyError, match=r"tcp://127\.0\.0\.1:1 .*refused"):
        RuntimeAPI(host="127.0.0.1", port=1, timeout=1).command("show info")


def test_runtime_api_never_sends_a_second_command(haproxy):
    fake = haproxy()
    api = RuntimeAPI(fake.address)
    hostile = Member("beam_nodes", "node1;shutdown sessions server beam_nodes/node2", {}, None)
    with pytest.raises(HAProxyError, match="not an HAProxy name"):
        api.set_state(hostile, "maint")
    with pytest.raises(HAProxyError, match="not an HAProxy name"):
        api.servers_state("beam_nodes\nset server beam_nodes/node1 state maint")
    with pytest.raises(HAProxyError, match="more than one HAProxy command"):
        api.command("show info;show stat")
    assert fake.commands == []


def test_names_problem_names_the_first_option_with_a_bad_name_and_says_nothing_was_sent():
    assert names_problem({"server": ["node1"], "backend": None}) is None
    assert names_problem({"backend": ["beam_nodes", "a b"], "servers": ["x;y"]}) == (
        "Invalid backend: 'a b' is not an HAProxy name: use letters, digits and - _ . : only "
        "(no space, ';' or newline). Nothing was sent to HAProxy."
    )


def test_the_readers_options_are_the_backends_then_the_admin_sockets():
    spec = read_argument_spec()
    assert list(spec)[:2] == ["backend", "socket"]
    assert spec["backend"] == {"type": "list", "elements": "str", "aliases": ["backends"]}
