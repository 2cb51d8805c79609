# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads Erlang terms as written by io:format("~p") or found in relup/.rel/RELEASES files.

Atoms become Atom (a str subclass), strings ("...") become str, lists become list, tuples
tuple, maps dict, binaries bytes; pids, refs, ports and funs become Opaque. This is a reader for
data the nodes print or the release tools write, not a full Erlang parser.
"""

from __future__ import annotations

import math
import re


class Atom(str):
    """An Erlang atom (compares equal to its name)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({str(self)!r})"


class Opaque(str):
    """A pid, port, reference or fun: kept as its printed text."""

    __slots__ = ()


class TermError(ValueError):
    """The text is not a term this reader understands (the only error this reader raises)."""


# Deeper nesting than any relup, .rel or node answer has: refused rather than exhausting the stack.
MAX_DEPTH = 100


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|%[^\n]*)
  | (?P<opaque>\#(?:Ref|Port|Fun)<[^>]*>|<\d+\.\d+\.\d+>)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<qatom>'(?:[^'\\]|\\.)*')
  | (?P<float>-?\d+\.\d+(?:[eE][-+]?\d+)?)
  | (?P<int>-?\d+(?:\#[0-9a-zA-Z]+)?)
  | (?P<char>\$(?:\\x\{[0-9A-Fa-f]*\}|\\x[0-9A-Fa-f]{2}|\\[0-7]{1,3}|\\\^.|\\.|.))
  | (?P<atom>[a-z][A-Za-z0-9_@]*)
  | (?P<punct><<|>>|=>|\#\{|[{}\[\],|.])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "s": " ",
    "e": "\x1b",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "d": "\x7f",
}


# The escapes erl_scan reads: \x{H...}, \xHH, one to three octal digits, \^C (control C), \C.
_ESCAPE = re.compile(r"\\(?:x\{([0-9A-Fa-f]+)\}|x([0-9A-Fa-f]{2})|([0-7]{1,3})|\^(.)|(.))", re.DOTALL)


def _unescape(body: str) -> str:
    """The text of a quoted string or atom body, its escapes decoded as Erlang decodes them."""

    def decode(match) -> str:
        braced, two, octal, control, other = match.groups()
        if control is not None:
            return chr(ord(control) & 31)
        if other is not None:
            if other == "x":  # \x with neither {hex} nor two hex digits: erl_scan refuses it too
                raise TermError(
                    f"escape {match.string[match.start() : match.start() + 6]!r} is not \\xHH or \\x{{H...}}"
                )
            return _ESCAPES.get(other, other)
        code = int(braced or two or octal, 8 if octal else 16)
        if code > 0x10FFFF:
            raise TermError(f"escape {match.group()[:20]!r} is beyond the last Unicode character")
        return chr(code)

    return _ESCAPE.sub(decode, body)


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise TermError(f"unexpected text at offset {pos}: {text[pos : pos + 30]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "ws":
            out.append((kind, match.group()))
    return out


class _Reader:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TermError(f"expected text, got {type(text).__name__}")
        self.toks = _tokens(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise TermError("unexpected end of term")
        if value is not None and tok[1] != value:
            raise TermError(f"expected {value!r}, found {tok[1]!r}")
        self.pos += 1
        return tok

    def seq(self, close: str) -> list:
        items = []
        if self.peek() and self.peek()[1] == close:
            self.take(close)
            return items
        while True:
            items.append(self.term())
            sep = self.take()[1]
            if sep == close:
                return items
            if sep == "|":  # improper list tail: keep it as the last element
                items.append(self.term())
                self.take(close)
                return items
            if sep != ",":
                raise TermError(f"expected ',' or {close!r}, found {sep!r}")

    def term(self):
        if self.depth >= MAX_DEPTH:
            raise TermError(f"the term nests deeper than {MAX_DEPTH} levels")
        self.depth += 1
        try:
            return self._term()
        finally:
            self.depth -= 1

    def _term(self):
        kind, value = self.take()
        if kind == "string":
            text = _unescape(value[1:-1])
            # Adjacent string literals concatenate ("ab" "cd"), as ~p may print long strings.
            while self.peek() and self.peek()[0] == "string":
                text += _unescape(self.take()[1][1:-1])
            return text
        if kind == "qatom":
            return Atom(_unescape(value[1:-1]))
        if kind == "atom":
            return Atom(value)
        if kind == "int":
            return _integer(value)
        if kind == "float":
            number = float(value)
            if not math.isfinite(number):  # erl_scan refuses it too: Erlang has no infinite float
                raise TermError(f"float {value[:40]!r} is out of range")
            return number
        if kind == "char":
            return ord(_unescape(value[1:]))
        if kind == "opaque":
            return Opaque(value)
        if value == "{":
            return tuple(self.seq("}"))
        if value == "[":
            items = self.seq("]")
            # A list of small integers that ~p did not print as a string stays a list.
            return items
        if value == "#{":
            return self.map_body()
        if value == "<<":
            return self.binary()
        raise TermError(f"unexpected {value!r}")

    def map_body(self) -> dict:
        result: dict = {}
        if self.peek() and self.peek()[1] == "}":
            self.take("}")
            return result
        while True:
            key = map_key(self.term())
            self.take("=>")
            result[key] = self.term()
            sep = self.take()[1]
            if sep == "}":
                return result
            if sep != ",":
                raise TermError(f"expected ',' or '}}' in a map, found {sep!r}")

    def binary(self) -> bytes:
        parts = []
        if self.peek() and self.peek()[1] == ">>":
            self.take(">>")
            return b""
        while True:
            part = self.term()
            if isinstance(part, str):
                parts.append(part.encode("utf-8"))
            elif isinstance(part, int):
                parts.append(bytes([part & 0xFF]))
            else:
                raise TermError("unsupported binary segment")
            sep = self.take()[1]
            if sep == ">>":
                return b"".join(parts)
            if sep != ",":
                raise TermError(f"expected ',' or '>>' in a binary, found {sep!r}")


def _integer(text: str) -> int:
    """'42', '-7', '16#ff', '-16#ff' -> int; an Erlang base is 2 to 36 and the digits must belong to it."""
    sign = -1 if text.startswith("-") else 1
    base, sep, digits = text.lstrip("-").partition("#")
    radix = int(base) if sep else 10
    if not 2 <= radix <= 36:
        raise TermError(f"integer {text[:40]!r}: base {radix} is not between 2 and 36")
    try:
        return sign * int(digits if sep else base, radix)
    except ValueError as exc:  # digits outside the base, or more digits than Python converts
        raise TermError(f"integer {text[:40]!r} cannot be read: {exc}") from None


def map_key(value):
    """A map key as a hashable value: lists become tuples, at any depth; a map cannot be a key here."""
    if isinstance(value, (list, tuple)):
        return tuple(map_key(v) for v in value)
    if isinstance(value, dict):
        raise TermError("a map used as a map key is not supported")
    return value


def parse(text: str):
    """Parse one term; a trailing '.' is allowed."""
    reader = _Reader(text)
    value = reader.term()
    if reader.peek() and reader.peek()[1] == ".":
        reader.take(".")
    if reader.peek() is not None:
        raise TermError(f"unexpected text after the term: {reader.peek()[1]!r}")
    return value


def parse_all(text: str) -> list:
    """Parse a file of terms each ending with '.', as file:consult/1 reads them."""
    reader = _Reader(text)
    values = []
    while reader.peek() is not None:
        values.append(reader.term())
        reader.take(".")
    return values


def format_term(term, limit: int = 400) -> str:
    """Erlang-looking text of a parsed term, cut at limit characters (for error messages)."""

    def render(value) -> str:
        if isinstance(value, Atom):
            return str(value) if re.fullmatch(r"[a-z][A-Za-z0-9_@]*", value) else f"'{value}'"
        if isinstance(value, Opaque):
            return str(value)
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, bytes):
            return '<<"' + value.decode("utf-8", "replace") + '">>'
        if isinstance(value, tuple):
            return "{" + ",".join(render(v) for v in value) + "}"
        if isinstance(value, list):
            return "[" + ",".join(render(v) for v in value) + "]"
        if isinstance(value, dict):
            return "#{" + ",".join(f"{render(k)} => {render(v)}" for k, v in value.items()) + "}"
        return str(value)

    text = render(term)
    return text if len(text) <= limit else text[: limit - 3] + "..."
