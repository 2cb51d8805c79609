# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node name and cookie discovery from a release's files, Erlang literals, the epmd names query."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _dist
from ansible_collections.beamops.deploy.plugins.module_utils._dist import (
    DistError,
    discover_cookies,
    discover_node_name,
    epmd_names,
    erl_atom,
    erl_quoted,
    parse_env_sh,
    read_args_file,
    shell_value,
    split_args,
    vm_args_in_use,
)

SHORT = socket.gethostname().split(".")[0]
# The env.sh `mix release` writes for a new project: every line commented out.
STOCK_ENV_SH = """#!/bin/sh
# # Set the release to work across nodes.
# # RELEASE_DISTRIBUTION must be "sname" (local), "name" (distributed) or "none".
# export RELEASE_DISTRIBUTION=name
# export RELEASE_NODE=<%= @release.name %>
"""
# The sample beamops_ex release: RELEASE_COOKIE from the user's cookie file, inside a condition.
SAMPLE_ENV_SH = """#!/bin/sh
if [ -z "${RELEASE_COOKIE:-}" ] && [ -r "${HOME:-/nonexistent}/.erlang.cookie" ]; then
  RELEASE_COOKIE="$(cat "$HOME/.erlang.cookie")"
  export RELEASE_COOKIE
fi
"""


def relx(tmp_path, vm_args="-sname app\n-setcookie app_cookie\n", version="0.1.0"):
    """A relx release layout: releases/<vsn>/vm.args, start_erl.data."""
    (tmp_path / "releases" / version).mkdir(parents=True)
    (tmp_path / "releases" / "start_erl.data").write_text(f"13.1.5 {version}\n")
    if vm_args is not None:
        (tmp_path / "releases" / version / "vm.args").write_text(vm_args)
    return str(tmp_path)


def mix(tmp_path, env_sh=STOCK_ENV_SH, cookie="MIXCOOKIE", version="0.1.0"):
    """A mix release layout: releases/COOKIE, releases/<vsn>/env.sh and a vm.args without names."""
    relx(tmp_path, vm_args="## -mode/-name/-sname/-setcookie are configured via env vars\n+K true\n")
    (tmp_path / "releases" / version / "env.sh").write_text(env_sh)
    if cookie is not None:
        (tmp_path / "releases" / "COOKIE").write_text(cookie)
    return str(tmp_path)


# --- vm.args ------------------------------------------------------------------------------------


def test_split_args_follows_erl_comments_and_backslashes():
    text = "## comment -sname no\n-sname app # trailing\n-setcookie a\\ b\\#c\n+K true\n"
    assert split_args(text) == ["-sname", "app", "-setcookie", "a b#c", "+K", "true"]


def test_args_file_includes_are_read_in_place_and_loops_stop(tmp_path):
    extra = tmp_path / "extra.args"
    main = tmp_path / "vm.args"
    extra.write_text(f"-setcookie fromextra\n-args_file {main}\n")
    main.write_text(f"-sname app\n-args_file {extra}\n+K true\n")
    assert read_args_file(str(main))[:4] == ["-sname", "app", "-setcookie", "fromextra"]
    assert read_args_file(str(main))[-2:] == ["+K", "true"]


def test_vm_args_prefers_root_file_then_resolved_src_output(tmp_path):
    root = relx(tmp_path)
    assert vm_args_in_use(root, ["0.1.0"]).path.endswith("releases/0.1.0/vm.args")
    (tmp_path / "vm.args").write_text("-sname top\n")
    assert vm_args_in_use(root, ["0.1.0"]).value("-sname") == "top"


def test_vm_args_src_before_first_start_is_unsubstituted(tmp_path):
    root = relx(tmp_path, vm_args=None)
    src = tmp_path / "releases" / "0.1.0" / "vm.args.src"
    src.write_text("-sname ${NODE_NAME}\n-setcookie ${COOKIE}\n")
    found = vm_args_in_use(root, ["0.1.0"])
    assert found.unsubstituted and found.path == str(src)
    with pytest.raises(DistError, match=r"sets -sname \$\{NODE_NAME\}.*give the node's name with node_name"):
        discover_node_name(root, "app", ["0.1.0"])
    cookies, notes = discover_cookies(root, "app", ["0.1.0"], home=str(tmp_path / "home"))
    assert cookies == [] and any(f"-setcookie in {src} is a shell expression resolved" in n for n in notes)
    assert not any("${COOKIE}" in n for n in notes)  # a cookie's text is never shown
    # relx writes releases/<vsn>/vm.args from the .src at start: that is what the node runs with.
    (tmp_path / "releases" / "0.1.0" / "vm.args").write_text("-sname web\n-setcookie resolved\n")
    assert discover_node_name(root, "app", ["0.1.0"]) == ("-sname", f"web@{SHORT}")
    assert [c.source for c in discover_cookies(root, "app", ["0.1.0"], home=str(tmp_path))[0]] == ["vm_args"]


def test_dist_flags_are_kept_and_epmd_use_detected(tmp_path):
    root = relx(tmp_path, vm_args="-sname app\n-start_epmd false\n-erl_epmd_port 4370\n")
    found = vm_args_in_use(root, ["0.1.0"])
    assert found.dist_args() == ["-start_epmd", "false", "-erl_epmd_port", "4370"]
    assert not found.uses_epmd()
    assert vm_args_in_use(relx(tmp_path / "b"), ["0.1.0"]).uses_epmd()


# --- node names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vm_args", "expected"),
    [
        ("-sname app\n", ("-sname", f"app@{SHORT}")),
        ("-sname app@localhost\n", ("-sname", "app@localhost")),
        ("-name app@127.0.0.1\n", ("-name", "app@127.0.0.1")),
        ("-name app\n", ("-name", "app@host1.example.com")),
    ],
)
def test_relx_node_names(tmp_path, monkeypatch, vm_args, expected):
    monkeypatch.setattr(_dist, "long_host", lambda: "host1.example.com")
    assert discover_node_name(relx(tmp_path, vm_args), "app", ["0.1.0"]) == expected


def test_node_names_that_could_break_out_are_refused(tmp_path):
    with pytest.raises(DistError, match="is not name@host"):
        discover_node_name(relx(tmp_path, "-sname a'b@h\n"), "app", ["0.1.0"])
    with pytest.raises(DistError, match="is not name@host"):
        _dist.flag_for_given_name("app@h'), halt(), ('")


def test_given_node_names():
    assert _dist.flag_for_given_name("app@127.0.0.1") == ("-name", "app@127.0.0.1")
    assert _dist.flag_for_given_name("app@web1") == ("-sname", "app@web1")
    assert _dist.flag_for_given_name("app") == ("-sname", f"app@{SHORT}")


def test_mix_defaults_and_env_sh_overrides(tmp_path, monkeypatch):
    monkeypatch.setattr(_dist, "long_host", lambda: "host1.example.com")
    assert discover_node_name(mix(tmp_path / "a"), "stockex", ["0.1.0"]) == ("-sname", f"stockex@{SHORT}")
    env = "export RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE=stockex\n"
    assert discover_node_name(mix(tmp_path / "b", env), "stockex", ["0.1.0"]) == ("-name", "stockex@host1.example.com")
    env = 'export RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE="${RELEASE_NAME}@127.0.0.1"\n'
    assert discover_node_name(mix(tmp_path / "c", env), "stockex", ["0.1.0"]) == ("-name", "stockex@127.0.0.1")
    env = "export RELEASE_NODE=${RELEASE_NODE:-web@localhost}\n"
    assert discover_node_name(mix(tmp_path / "d", env), "stockex", ["0.1.0"]) == ("-sname", "web@localhost")


def test_mix_names_only_the_start_script_can_compute(tmp_path):
    env = "export RELEASE_DISTRIBUTION=name\nexport RELEASE_NODE=app@$(hostname -f)\n"
    with pytest.raises(DistError, match=r"env.sh line 2 sets RELEASE_NODE from an expression"):
        discover_node_name(mix(tmp_path / "a", env), "app", ["0.1.0"])
    env = 'case "$RELEASE_COMMAND" in\n  start*) export RELEASE_NODE=other ;;\nesac\n'
    with pytest.raises(DistError, match="inside a condition"):
        discover_node_name(mix(tmp_path / "b", env), "app", ["0.1.0"])
    with pytest.raises(DistError, match="RELEASE_DISTRIBUTION=none"):
        discover_node_name(mix(tmp_path / "c", "export RELEASE_DISTRIBUTION=none\n"), "app", ["0.1.0"])


def test_no_name_anywhere_asks_for_node_name(tmp_path):
    with pytest.raises(DistError, match=r"no -sname or -name in .*give the node's name with node_name"):
        discover_node_name(relx(tmp_path, "+K true\n"), "app", ["0.1.0"])


def test_parse_env_sh_values():
    known = {"RELEASE_NAME": "app"}
    text = "A=1\nexport A=2\nB='lit $x'\nC=\"$RELEASE_NAME@h\"\nD=$(cat f)\n  E=x\n# F=y\nG=${UNSET}\n[ -n x ] && H=1\n"
    got = {k: (v.value, v.conditional) for k, v in parse_env_sh(text, known).items()}
    assert got == {
        "A": ("2", False),
        "B": ("lit $x", False),
        "C": ("app@h", False),
        "D": (None, False),
        "E": (None, True),
        "G": (None, False),
        "H": (None, True),
    }
    assert shell_value("a;b", {}) is None and shell_value("`x`", {}) is None and shell_value("x y", {}) is None


# --- cookies --------------------------------------------------------------------------------------


def sources(cookies):
    return [c.source for c in cookies]


def test_options_alone_are_tried(tmp_path):
    root = mix(tmp_path / "rel")
    cookies, notes = discover_cookies(root, "app", ["0.1.0"], cookie="given", home=str(tmp_path))
    assert sources(cookies) == ["cookie"] and cookies[0].value == "given" and notes == []
    (tmp_path / "c").write_text("fromfile\n")
    cookies = discover_cookies(root, "app", ["0.1.0"], cookie_file=str(tmp_path / "c"))[0]
    assert sources(cookies) == ["cookie_file"] and cookies[0].value == "fromfile"
    with pytest.raises(OSError):
        discover_cookies(root, "app", ["0.1.0"], cookie_file=str(tmp_path / "missing"))


def test_discovery_order_for_a_stock_mix_release(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".erlang.cookie").write_text("USERCOOKIE\n")
    cookies, notes = discover_cookies(mix(tmp_path / "rel"), "app", ["0.1.0"], home=str(home))
    assert sources(cookies) == ["release_cookie_file", "user_cookie_file"]
    assert [c.value for c in cookies] == ["MIXCOOKIE", "USERCOOKIE"] and notes == []


def test_env_sh_literal_cookie_comes_first_and_the_cookie_file_last(tmp_path):
    root = mix(tmp_path / "rel", env_sh="export RELEASE_COOKIE=fromenv\n")
    (tmp_path / "rel" / "releases" / "0.1.0" / "vm.args").write_text("-setcookie fromvmargs\n")
    (tmp_path / ".erlang.cookie").write_text("USERCOOKIE")
    cookies = discover_cookies(root, "app", ["0.1.0"], home=str(tmp_path))[0]
    assert sources(cookies) == ["env_sh", "vm_args", "user_cookie_file", "release_cookie_file"]


def test_env_sh_cookie_from_an_expression_puts_the_user_cookie_before_releases_cookie(tmp_path):
    root = mix(tmp_path / "rel", env_sh=SAMPLE_ENV_SH)
    (tmp_path / ".erlang.cookie").write_text("USERCOOKIE")
    cookies, notes = discover_cookies(root, "app", ["0.1.0"], home=str(tmp_path))
    assert sources(cookies) == ["user_cookie_file", "release_cookie_file"]
    assert notes == [
        f"{root}/releases/0.1.0/env.sh line 3 sets RELEASE_COOKIE inside a condition that is not evaluated here"
    ]


def test_relx_cookie_from_vm_args_then_user_file_and_duplicates_once(tmp_path):
    (tmp_path / ".erlang.cookie").write_text("app_cookie\n")
    cookies = discover_cookies(relx(tmp_path / "rel"), "app", ["0.1.0"], home=str(tmp_path))[0]
    assert sources(cookies) == ["vm_args"]
    (tmp_path / ".erlang.cookie").write_text("other\n")
    cookies = discover_cookies(relx(tmp_path / "rel2"), "app", ["0.1.0"], home=str(tmp_path))[0]
    assert sources(cookies) == ["vm_args", "user_cookie_file"]


def test_missing_sources_are_noted_and_nothing_is_created(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    cookies, notes = discover_cookies(relx(tmp_path / "rel", "-sname app\n"), "app", ["0.1.0"], home=str(home))
    assert cookies == [] and notes == [f"{home}/.erlang.cookie does not exist"]
    assert list(home.iterdir()) == []


def test_cookie_values_stay_out_of_repr_and_descriptions(tmp_path):
    cookie = _dist.Cookie("vm_args", "/r/releases/1/vm.args", "SECRET")
    assert "SECRET" not in repr(cookie) and cookie.describe() == "-setcookie in /r/releases/1/vm.args"
    assert _dist.Cookie("cookie", None, "SECRET").describe() == "option cookie"


# --- Erlang literals ------------------------------------------------------------------------------

NASTY = ["plain", "it's", 'say "hi"', "back\\slash", "new\nline", "nul\x00", "é-ü", "'), halt(1), ('"]


def test_literals_escape_every_quote_backslash_and_control_character():
    assert erl_atom("it's") == "'it\\x{27}s'"
    assert erl_quoted('a"b\\') == '"a\\x{22}b\\x{5C}"'
    for value in NASTY:
        body = erl_atom(value)[1:-1]
        assert "'" not in body and "\n" not in body and all(" " <= ch <= "~" for ch in body)


@pytest.mark.skipif(shutil.which("erl") is None, reason="needs erl")
def test_literals_read_back_by_erlang_as_the_same_text():
    """The real parser reads each literal back as one atom / one string equal to the input."""
    terms = ", ".join(f"{{{erl_atom(v)}, {erl_quoted(v)}}}" for v in NASTY)
    program = (
        f"L = [{terms}], "
        '[io:format("~w~n", [unicode:characters_to_list(atom_to_binary(A)) =:= S]) || {A, S} <- L], '
        'io:format("~w~n", [[S || {_, S} <- L]]), halt().'
    )
    out = subprocess.run(
        ["erl", "-noshell", "-noinput", "-eval", program], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out[: len(NASTY)] == ["true"] * len(NASTY)
    codepoints = [[ord(c) for c in v] for v in NASTY]
    assert out[len(NASTY)] == str(codepoints).replace(" ", "")


# --- epmd -------------------------------------------------------------------------------------------


def test_epmd_names_reads_the_registered_names(fake_epmd):
    server = fake_epmd({"app": 40001, "other": 40002})
    assert epmd_names("127.0.0.1", server.server_address[1]) == {"app": 40001, "other": 40002}


def test_epmd_names_raises_when_nothing_answers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        epmd_names("127.0.0.1", port, timeout=1)


def test_epmd_port_from_environment(monkeypatch):
    monkeypatch.setenv("ERL_EPMD_PORT", "4400")
    assert _dist.epmd_port() == 4400
    monkeypatch.delenv("ERL_EPMD_PORT")
    assert _dist.epmd_port() == 4369 and os.environ.get("ERL_EPMD_PORT") is None
