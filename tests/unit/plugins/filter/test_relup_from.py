# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The relup_from filter: a relup's text, or a release tarball read on the control node."""

from __future__ import annotations

import io
import tarfile

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.beamops.deploy.plugins.filter.relup_from import FilterModule, relup_from

RELUP = b"""{"1.2.0",
 [{"1.1.0",[],[point_of_no_return]},
  {"1.0.0",[],[point_of_no_return]}],
 [{"1.1.0",[],[point_of_no_return]}]}.
"""


def tarball(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_the_up_from_versions_of_a_relup_text_in_order():
    assert relup_from(RELUP.decode()) == ["1.1.0", "1.0.0"]
    assert FilterModule().filters()["relup_from"] is relup_from


def test_read_from_a_release_tarball(tmp_path):
    path = tarball(tmp_path / "app-1.2.0.tar.gz", {"releases/1.2.0/relup": RELUP, "bin/app": b"#!/bin/sh\n"})
    assert relup_from(path, "1.2.0") == ["1.1.0", "1.0.0"]


def test_a_tarball_without_relup_and_a_text_that_is_no_relup_fail_clearly(tmp_path):
    path = tarball(tmp_path / "app-1.2.0.tar.gz", {"bin/app": b"#!/bin/sh\n"})
    with pytest.raises(AnsibleFilterError, match="relup_from"):
        relup_from(path, "1.2.0")
    with pytest.raises(AnsibleFilterError, match="relup_from"):
        relup_from("{not, a relup")
