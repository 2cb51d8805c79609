# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mixed sequences of cold deploys and hot upgrades on one release root (issue 9): whatever came
before, `current` names the version its tree boots, and a cold deploy of a version boots it.

A hot upgrade is simulated as release_handler and the hot_upgrade module leave the node's tree:
the new version's releases/<vsn>/ and lib/ inside the running tree, and bin/<name> replaced by the
new version's script (its REL_VSN), which is what a cold start from that tree boots.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.beamops.deploy.plugins.module_utils import _otp, _release
from ansible_collections.beamops.deploy.plugins.modules import hot_upgrade, release


class Node:
    """A release root and the tarballs of a fake controller; run() calls the release module."""

    def __init__(self, tmp_path, capsys, build):
        self.build = build
        self.root = tmp_path / "opt" / "app"
        self.root.mkdir(parents=True)
        self.dist = tmp_path / "dist"
        self.dist.mkdir()
        self.upload = tmp_path / "upload"
        self.upload.mkdir()
        self.capsys = capsys

    def tarball(self, version):
        return self.build(self.dist / f"app-{version}.tar.gz", version=version)

    def run(self, version, src=None, **args):
        params = {"name": "app", "version": version, "root": str(self.root), **args}
        if src:
            shutil.copy(src, self.upload / "release.tar.gz")
            params["src"] = str(self.upload / "release.tar.gz")
        with patch_module_args(params), pytest.raises(SystemExit):
            release.main()
        return json.loads(self.capsys.readouterr().out)

    def history(self):
        return json.loads((self.root / ".beamops" / "history.json").read_text())

    def listing(self):
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))


@pytest.fixture
def node(tmp_path, capsys, release_tarball):
    return Node(tmp_path, capsys, release_tarball)


def hot_in_place(tree, version):
    """What a hot upgrade made permanent leaves in the node's tree."""
    (tree / "releases" / version).mkdir(parents=True, exist_ok=True)
    (tree / "releases" / version / "app.rel").write_text(f'{{release,{{"app","{version}"}},{{erts,"13.1.5"}},[]}}.\n')
    (tree / "lib" / f"app-{version}" / "ebin").mkdir(parents=True, exist_ok=True)
    (tree / "bin" / "app").write_text(f'#!/bin/sh\nREL_VSN="{version}"\n')


def boots(node):
    """The version a cold start from current boots, and the version current names."""
    return _release.boot_version(str(node.root / "current"), "app"), os.readlink(node.root / "current")


class Module:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def name_tree(node, version, tree=None):
    """The hot_upgrade module's step after make_permanent, on the tree the node runs from."""
    upgrade = hot_upgrade.HotUpgrade.__new__(hot_upgrade.HotUpgrade)
    upgrade.p = {"root": str(node.root), "name": "app"}
    upgrade.module = Module()
    upgrade.result = {"changed": False}
    upgrade.release = _otp.ReleaseRoot(str(tree or node.root / "current"), "app")
    upgrade.name_tree(version)
    return upgrade


def test_a_hot_upgraded_tree_is_renamed_after_what_it_boots(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    assert boots(node) == ("1.2.0", "releases/1.1.0")  # the lie a hot upgrade left before the fix

    upgrade = name_tree(node, "1.2.0")

    assert upgrade.result["renamed"] == {"from": "1.1.0", "to": "1.2.0"} and upgrade.result["changed"] is True
    assert upgrade.result["current"] == "1.2.0" and not upgrade.module.warnings
    assert boots(node) == ("1.2.0", "releases/1.2.0")
    assert os.readlink(node.root / "releases" / "1.1.0") == "1.2.0"  # the running node's paths still resolve
    assert (node.root / "releases" / "1.1.0" / "lib" / "app-1.2.0").is_dir()
    history = node.history()
    assert history["previous"] == "1.1.0" and "1.1.0" not in history["versions"]
    assert history["versions"]["1.2.0"]["hot_upgraded_from"] == "1.1.0"
    assert history["versions"]["1.2.0"]["sha256"] == _release.sha256_file(node.tarball("1.2.0"))
    assert _release.Layout(str(node.root), "app").installed_versions() == ["1.2.0"]
    assert name_tree(node, "1.2.0").result["changed"] is False  # a re-run finds it named


def test_cold_deploy_back_after_a_hot_upgrade_boots_the_version_asked(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    name_tree(node, "1.2.0")

    back = node.run("1.1.0", src=node.tarball("1.1.0"), state="current")

    assert back["changed"] is True and back["current"] == "1.1.0" and back["previous"] == "1.2.0"
    assert boots(node) == ("1.1.0", "releases/1.1.0")
    assert not os.path.islink(node.root / "releases" / "1.1.0")
    assert not (node.root / "releases" / "1.1.0" / "lib" / "app-1.2.0").exists()
    # Hot to 1.2.0 again from the fresh 1.1.0 tree: the older 1.2.0 tree makes way.
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    again = node.run("1.2.0", state="current")
    assert again["changed"] is True and boots(node) == ("1.2.0", "releases/1.2.0")
    assert (node.root / "releases" / "1.2.0" / "lib" / "app-1.1.0").is_dir()  # the tree the node ran from
    assert not [p for p in os.listdir(node.root / "releases") if p.startswith(".beamops-tmp-")]
    # Rollback (a downgrade through the relup, made permanent): the tree boots 1.1.0 again.
    (node.root / "releases" / "1.2.0" / "bin" / "app").write_text('#!/bin/sh\nREL_VSN="1.1.0"\n')
    name_tree(node, "1.1.0", tree=node.root / "releases" / "1.2.0")
    assert boots(node) == ("1.1.0", "releases/1.1.0")
    assert os.readlink(node.root / "releases" / "1.2.0") == "1.1.0"
    assert node.run("1.1.0", state="current")["changed"] is False


def test_a_tree_changed_in_place_is_unpacked_again_from_the_kept_tarball(node):
    # A root hot-upgraded before the fix: current names 1.1.0, its tree boots 1.2.0.
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    hot_in_place(node.root / "releases" / "1.0.0", "1.2.0")
    back = node.run("1.0.0", state="current")  # a cold rollback names no src
    assert back["changed"] is True and boots(node) == ("1.0.0", "releases/1.0.0")
    assert not (node.root / "releases" / "1.0.0" / "lib" / "app-1.2.0").exists()
    assert node.run("1.0.0", state="current")["changed"] is False


def test_no_tarball_of_a_tree_changed_in_place_is_a_clear_refusal(node):
    node.run("1.0.0", src=node.tarball("1.0.0"), state="current")
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    os.unlink(node.root / ".beamops" / "tarballs" / "app-1.0.0.tar.gz")
    hot_in_place(node.root / "releases" / "1.0.0", "1.2.0")
    before = node.listing()
    result = node.run("1.0.0", state="current")
    assert result["failed"] is True
    assert "does not boot 1.0.0: it boots 1.2.0" in result["msg"] and "set src" in result["msg"]
    assert node.listing() == before


def test_pruning_a_renamed_tree_removes_the_links_to_it(node):
    node.run("1.1.0", src=node.tarball("1.1.0"), state="current")
    node.run("1.2.0", src=node.tarball("1.2.0"), state="staged")
    hot_in_place(node.root / "releases" / "1.1.0", "1.2.0")
    name_tree(node, "1.2.0")
    node.run("1.3.0", src=node.tarball("1.3.0"), state="current")
    node.run("1.4.0", src=node.tarball("1.4.0"), state="current", keep=2)
    assert sorted(os.listdir(node.root / "releases")) == ["1.3.0", "1.4.0"]
