"""Which host folders an imported command server's sandbox shows."""

from __future__ import annotations

from pathlib import Path

from mcpkit.profiles.client_convert import host_folders


def test_a_script_in_a_project_shows_the_whole_project(tmp_path: Path) -> None:
    project = tmp_path / "work" / "proj"
    (project / "build").mkdir(parents=True)
    (project / "package.json").write_text("{}")
    script = project / "build" / "index.js"
    script.write_text("")
    assert host_folders([str(script)], None) == [project]


def test_a_flag_value_path_counts_and_paths_under_usr_or_missing_do_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    folders = host_folders(
        ["--db=" + str(data), "/usr/bin/env", str(tmp_path / "missing"), "plain", "{{x}}"], None
    )
    assert folders == [data]


def test_a_folder_inside_one_already_shown_is_not_added_twice(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert host_folders([str(tmp_path / "a"), str(tmp_path / "a" / "b")], None) == [tmp_path / "a"]


def test_the_cwd_is_not_mounted_twice(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text("")
    assert host_folders([str(tmp_path / "s.py")], str(tmp_path)) == []


def test_a_script_right_in_a_home_folder_shows_only_that_file() -> None:
    # /root holds far more than the script (keys, tokens): only the file is shown.
    script = Path("/root/.bashrc")
    if script.exists():
        assert host_folders([str(script)], None) == [script]
