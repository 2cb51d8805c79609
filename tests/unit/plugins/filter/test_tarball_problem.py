# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tarball_problem filter: a release tarball on the control node judged before any node changes."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.tarball_problem import FilterModule, tarball_problem


def test_a_sound_release_has_no_problem(tmp_path, release_tarball):
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.1.0")
    assert tarball_problem(path, "app", "1.1.0") == ""


def test_a_missing_file_is_named(tmp_path):
    path = str(tmp_path / "app-1.1.0.tar.gz")
    assert tarball_problem(path, "app", "1.1.0") == f"{path} is not a file on the control node"


def test_a_checksum_given_must_match_in_any_case(tmp_path, release_tarball):
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.1.0")
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert tarball_problem(path, "app", "1.1.0", checksum=sha.upper()) == ""
    other = "0" * 64
    assert tarball_problem(path, "app", "1.1.0", checksum=other) == f"{path} has sha256 {sha}, not {other}"
    assert tarball_problem(path, "app", "1.1.0", checksum="") == ""


def test_a_flipped_byte_is_damage(tmp_path, release_tarball):
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.1.0", files=20)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    assert tarball_problem(path, "app", "1.1.0").startswith(f"{path} is damaged: ")


def test_a_member_leaving_the_release_is_unsafe_and_named(tmp_path, release_tarball):
    evil = ("releases/1.1.0/../../../../tmp/evil", b"x", 0o644)
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.1.0", more=[evil])
    problem = tarball_problem(path, "app", "1.1.0")
    assert problem.startswith(f"{path} is unsafe: ") and "tmp/evil" in problem, problem


def test_an_incomplete_release_names_what_it_lacks(tmp_path, release_tarball):
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.1.0", omit=("lib/kernel",))
    assert "lib/kernel-8.5.3/" in tarball_problem(path, "app", "1.1.0")


def test_a_tarball_of_another_version_is_a_problem(tmp_path, release_tarball):
    path = release_tarball(tmp_path / "app-1.1.0.tar.gz", version="1.0.0")
    assert tarball_problem(path, "app", "1.1.0") != ""


@pytest.mark.parametrize(("name", "version"), [("", "1.0.0"), ("app", ""), ("app;rm", "1.0.0"), ("app", None)])
def test_an_invalid_name_or_version_is_an_error_not_a_verdict(tmp_path, release_tarball, name, version):
    path = release_tarball(tmp_path / "app-1.0.0.tar.gz")
    with pytest.raises(AnsibleFilterError, match="tarball_problem"):
        tarball_problem(path, name, version)


def test_the_filter_is_registered_under_its_file_name():
    assert FilterModule().filters() == {"tarball_problem": tarball_problem}
