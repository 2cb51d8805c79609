# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run_dir lookup: the directory ansible-playbook runs from, and paths given relative to it."""

from __future__ import annotations

from ansible_collections.beamops.deploy.plugins.lookup.run_dir import LookupModule


def test_without_terms_it_is_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert LookupModule().run([]) == [str(tmp_path)]


def test_relative_paths_resolve_against_it_and_absolute_ones_stay(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = LookupModule().run(["hooks/after_drain.yml", "/srv/hooks/ready.yml", "dist/app-1.1.0.tar.gz"])
    assert got == [
        str(tmp_path / "hooks" / "after_drain.yml"),
        "/srv/hooks/ready.yml",
        str(tmp_path / "dist" / "app-1.1.0.tar.gz"),
    ]
