# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hot_upgrade's rollback target: which release state=rolled_back returns to, and from which source
(the version asked for, release_handler's permanent release, the hot-upgrade record, an old release)."""

from __future__ import annotations

import pytest

from ansible_collections.beamops.deploy.plugins.modules.hot_upgrade import rollback_target


def rels(**statuses):
    """which_releases as the node lists it (newest first): rels(v1_1_0="current", v1_0_0="permanent")."""
    return [{"version": key[1:].replace("_", "."), "status": status} for key, status in statuses.items()]


def record_of(record):
    """A read_record that counts its calls: the record is read only when the target depends on it."""
    calls = []

    def read():
        calls.append(1)
        return record

    read.calls = calls
    return read


def test_the_version_asked_for_wins_over_every_other_source():
    read = record_of({"version": "1.1.0", "from_version": "1.0.0"})
    releases = rels(v1_1_0="permanent", v1_0_0="old", v0_9_0="old")
    assert rollback_target("0.9.0", "1.1.0", "1.1.0", releases, read) == ("0.9.0", False)
    assert read.calls == []


def test_an_install_never_made_permanent_returns_to_the_permanent_release():
    read = record_of({"version": "1.1.0", "from_version": "0.9.0"})
    releases = rels(v1_1_0="current", v1_0_0="permanent", v0_9_0="old")
    assert rollback_target(None, "1.1.0", "1.0.0", releases, read) == ("1.0.0", False)
    assert read.calls == []  # release_handler's permanent release comes before the record


def test_a_permanent_upgrade_returns_to_the_version_the_record_says_it_came_from():
    # The record beats the newest old release: 1.0.5 is newer but was not where 1.1.0 came from.
    read = record_of({"version": "1.1.0", "from_version": "1.0.0"})
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, read) == ("1.0.0", False)
    assert read.calls == [1]


def test_a_record_of_another_version_is_ignored_for_the_newest_old_release():
    read = record_of({"version": "1.2.0", "from_version": "1.1.0"})
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, read) == ("1.0.5", False)


@pytest.mark.parametrize("record", [{}, {"version": "1.1.0"}, {"version": "1.1.0", "from_version": ""}])
def test_without_a_usable_record_the_newest_old_release_is_the_target(record):
    releases = rels(v1_1_0="permanent", v1_0_5="old", v1_0_0="old")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, record_of(record)) == ("1.0.5", False)


def test_a_second_rollback_is_a_no_op():
    # After 1.1.0 -> 1.0.0 the record says so; 1.1.0 is an old release now, and must not be the target.
    read = record_of({"version": "1.0.0", "rolled_back_to": "1.0.0", "rolled_back_from": "1.1.0"})
    releases = rels(v1_1_0="old", v1_0_0="permanent")
    assert rollback_target(None, "1.0.0", "1.0.0", releases, read) == (None, True)


def test_a_record_of_a_rollback_to_another_version_does_not_stop_a_new_rollback():
    read = record_of({"version": "1.0.0", "rolled_back_to": "1.0.0", "rolled_back_from": "1.1.0"})
    releases = rels(v1_2_0="permanent", v1_1_0="old", v1_0_0="old")
    assert rollback_target(None, "1.2.0", "1.2.0", releases, read) == ("1.1.0", False)


def test_no_source_gives_no_target():
    read = record_of({})
    assert rollback_target(None, "1.0.0", "1.0.0", rels(v1_0_0="permanent"), read) == (None, False)
    assert rollback_target(None, "1.0.0", "1.0.0", [], read) == (None, False)


def test_unpacked_releases_are_never_a_target():
    releases = rels(v1_2_0="unpacked", v1_1_0="permanent")
    assert rollback_target(None, "1.1.0", "1.1.0", releases, record_of({})) == (None, False)
