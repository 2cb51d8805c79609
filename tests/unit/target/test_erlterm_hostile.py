# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Terms read as Erlang reads them, and hostile ones refused with the reader's own error: escapes
decoded as erl_scan decodes them (the expected values are what erl_scan:string/1 gave on OTP 25),
no infinite float, no nesting deep enough to exhaust the stack, in printed and in binary terms."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.beamops.deploy.plugins.module_utils import _edp
from ansible_collections.beamops.deploy.plugins.module_utils._erlterm import Atom, TermError, parse, parse_all


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"\x41"', "A"),
        (r'"\x{41}"', "A"),
        (r'"\x{1F600}"', "\U0001f600"),
        (r'"\x4142"', "A42"),  # \xHH takes two digits, no more
        (r'"\101"', "A"),
        (r'"\1012"', "A2"),  # three octal digits at most
        (r'"\0"', "\0"),
        (r'"\^a\^A"', "\x01\x01"),
        (r'"\8\z\s"', "8z "),
        (r"'\x{41}b'", Atom("Ab")),
        (r"$\x{41}", 65),
        (r"$\x41", 65),
        (r"$\101", 65),
        (r"$\^b", 2),
    ],
)
def test_escapes_decode_as_erlang_does(text, expected):
    assert parse(text) == expected
    assert type(parse(text)) is type(expected)


@pytest.mark.parametrize("text", [r'"\x4g"', r'"\xZ"', r'"\x{}"', r'"\x{110000}"', r'"\x{FFFFFFFFFFFFFFFFFFFF}"'])
def test_bad_escapes_are_refused(text):
    with pytest.raises(TermError, match="escape"):
        parse(text)


@pytest.mark.parametrize("text", ["1.0e999", "-1.0e999", "{ok, 9.9e400}"])
def test_non_finite_floats_are_refused(text):
    with pytest.raises(TermError, match="out of range"):
        parse(text)
    with pytest.raises(TermError, match="out of range"):
        parse_all(text + ".")


def test_finite_floats_still_read():
    assert parse("1.0e308") == 1.0e308 and parse("2.5e-3") == 0.0025


# --- binary terms from a node (_edp) ----------------------------------------------------------------


@pytest.mark.parametrize("nest", [b"\x68\x01", b"\x6c\x00\x00\x00\x01", b"\x74\x00\x00\x00\x01\x61\x01"])
def test_deeply_nested_binary_terms_are_refused(nest):
    data = b"\x83" + nest * 100_000 + b"\x6a"
    with pytest.raises(_edp.ProtocolError, match="nests deeper than"):
        _edp.decode(data)


def test_binary_terms_as_deep_as_the_limit_still_decode():
    depth = _edp.MAX_DEPTH - 1
    term, _end = _edp.decode(b"\x83" + b"\x68\x01" * depth + b"\x61\x07")
    for _level in range(depth):
        term = term[0]
    assert term == 7


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_binary_floats_are_refused(value):
    with pytest.raises(_edp.ProtocolError, match="not finite"):
        _edp.decode(b"\x83" + struct.pack(">Bd", 70, value))
