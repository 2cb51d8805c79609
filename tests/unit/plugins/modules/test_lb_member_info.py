# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_member_info against a fake HAProxy: who is in rotation, and reads only."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.modules import lb_member_info


def test_members_in_and_out_of_rotation(haproxy, fake_server, run_module):
    fake = haproxy(
        {
            "beam_nodes": {
                "node1": fake_server(scur=2),
                "node2": fake_server(admin=8),  # drain
                "node3": fake_server(op=0, check_result=2),  # down
                "node4": fake_server(shown="UP 1/3"),  # up, on its way down
                "node5": fake_server(admin=1),  # maint
            },
            "other": {"node1": fake_server()},
        }
    )
    result = run_module(lb_member_info, {"socket": fake.address, "backend": ["beam_nodes"]})
    assert not result["changed"]
    view = result["backends"]["beam_nodes"]
    assert view["in_rotation"] == ["node1"]
    assert view["out_of_rotation"] == ["node2", "node3", "node4", "node5"]
    assert list(result["backends"]) == ["beam_nodes"]
    first = result["members"][0]
    assert (first["server"], first["state"], first["sessions"], first["in_rotation"]) == ("node1", "ready", 2, True)
    assert fake.set_commands == []


def test_every_backend_when_none_is_named(haproxy, run_module):
    fake = haproxy()
    result = run_module(lb_member_info, {"socket": fake.address})
    assert sorted(result["backends"]) == sorted(fake.backends)


def test_unknown_backend_and_hostile_names_fail_clearly(haproxy, run_module):
    fake = haproxy()
    missing = run_module(lb_member_info, {"socket": fake.address, "backend": ["nope"]})
    assert missing["failed"] and "nope not found" in missing["msg"]
    hostile = run_module(lb_member_info, {"socket": fake.address, "backend": ["beam_nodes;disable server x/y"]})
    assert hostile["failed"] and "Nothing was sent" in hostile["msg"]
    assert fake.set_commands == []
