# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import io
import socket
import tarfile

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils._otp import (
    OtpError,
    ReleaseRoot,
    erl_string,
    relup_from_tarball,
    relup_sources,
    running_version,
)


def make_release(tmp_path, vm_args="-sname myapp\n", script_vsn="1.1.0", start_erl="13.1.5 1.0.0"):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "myapp").write_text(f'#!/bin/sh\nset -e\nREL_VSN="{script_vsn}"\nERTS_VSN="13.1.5"\n')
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)
    (tmp_path / "releases" / "1.0.0" / "vm.args").write_text(vm_args)
    (tmp_path / "releases" / "start_erl.data").write_text(start_erl)
    return ReleaseRoot(str(tmp_path), "myapp")


def test_release_root_reads_script_version_start_data_and_node_name(tmp_path):
    rel = make_release(tmp_path)
    assert rel.script_version() == "1.1.0"
    assert rel.start_erl_data() == ("13.1.5", "1.0.0")
    assert rel.node_name() == ("-sname", f"myapp@{socket.gethostname().split('.')[0]}")


def test_node_name_with_host_and_long_names(tmp_path):
    rel = make_release(tmp_path, vm_args="## comment\n-name myapp@10.0.0.5\n-setcookie x\n")
    assert rel.node_name() == ("-name", "myapp@10.0.0.5")


def test_node_name_missing_is_a_clear_error(tmp_path):
    rel = make_release(tmp_path, vm_args="+K true\n")
    with pytest.raises(OtpError, match="no -sname or -name"):
        rel.node_name()


def test_locate_prefers_the_current_link(tmp_path):
    (tmp_path / "releases" / "1.0.0").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/1.0.0")
    assert ReleaseRoot.locate(str(tmp_path), "myapp").path == str((tmp_path / "releases" / "1.0.0").resolve())
    plain = tmp_path / "plain"
    plain.mkdir()
    assert ReleaseRoot.locate(str(plain), "myapp").path == str(plain.resolve())


def test_relup_sources():
    text = '{"1.2.0",[{"1.1.0",[],[]},{"1.1.1",[],[]}],[{"1.1.0",[],[]}]}.'
    assert relup_sources(text) == ("1.2.0", ["1.1.0", "1.1.1"], ["1.1.0"])
    with pytest.raises(ValueError):
        relup_sources("{a,b}.")


def test_running_version_prefers_current_over_permanent():
    rels = [{"version": "1.1.0", "status": "current"}, {"version": "1.0.0", "status": "permanent"}]
    assert running_version(rels) == "1.1.0"
    assert running_version(rels[1:]) == "1.0.0"
    assert running_version([{"version": "2", "status": "unpacked"}]) is None


@pytest.mark.parametrize("bad", ['1.0"', "1.0 ,halt()", "a\nb", ""])
def test_erl_string_refuses_injection(bad):
    with pytest.raises(ValueError):
        erl_string(bad)
    assert erl_string("1.1.0-rc.1") == '"1.1.0-rc.1"'


def make_tarball(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_relup_from_tarball_and_its_errors(tmp_path):
    good = make_tarball(tmp_path / "a.tar.gz", {"releases/1.1.0/relup": '{"1.1.0",[{"1.0.0",[],[]}],[]}.'})
    assert relup_sources(relup_from_tarball(good, "1.1.0"))[1] == ["1.0.0"]
    none = make_tarball(tmp_path / "b.tar.gz", {"releases/1.1.0/myapp.rel": "{release, x}."})
    with pytest.raises(OtpError, match=r"has no releases/1\.1\.0/relup"):
        relup_from_tarball(none, "1.1.0")
    (tmp_path / "c.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(OtpError, match="cannot read tarball"):
        relup_from_tarball(str(tmp_path / "c.tar.gz"), "1.1.0")


def test_point_start_script_and_the_upgrade_record(tmp_path):
    rel = make_release(tmp_path, script_vsn="1.0.0")
    assert rel.point_start_script("1.1.0") is None  # no bin/myapp-1.1.0
    (tmp_path / "bin" / "myapp-1.1.0").write_text('#!/bin/sh\nREL_VSN="1.1.0"\n')
    assert rel.point_start_script("1.1.0") is True
    assert rel.script_version() == "1.1.0"
    assert rel.point_start_script("1.1.0") is False
    assert rel.read_record() == {}
    rel.write_record(version="1.1.0", from_version="1.0.0")
    assert rel.read_record() == {"version": "1.1.0", "from_version": "1.0.0"}
