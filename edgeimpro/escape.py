"""Strings from a model file are data: escape them for the place they are written to.

A tensor name, an op's custom code, a label in model.json or the model's file name is written by whoever
made the file. Pasted into generated C it can close a comment or a string literal and become code; in a
report it can become markup. One helper per destination, stdlib only:

  c_string(s)     a complete C / C++ string literal, quotes included, the bytes kept exactly
  c_comment(s)    text for inside /* ... */ or after //: one line of printable ASCII
  c_ident(s)      a fragment of a C identifier ([a-z0-9_]; callers add a unique prefix)
  one_line(s)     one line of printable ASCII (key=value files such as Arduino's library.properties)
  printable(s)    Unicode text without control characters, lone surrogates or bidi overrides (plots,
                  terminal, the base of html_text); any script stays readable
  shell_arg(s)    one word of a POSIX shell command (shlex.quote), e.g. in a "regenerate with" comment
  html_text(x)    HTML text or a double-quoted attribute value (html.escape)
"""

from __future__ import annotations

import html
import os
import re
import shlex
import unicodedata
from typing import Any

__all__ = ["c_comment", "c_ident", "c_string", "html_text", "one_line", "printable", "shell_arg"]

_PRINTABLE = frozenset(range(0x20, 0x7F))
# Bidirectional embeddings, overrides and isolates: they reorder what a reader sees ("Trojan Source").
_BIDI = frozenset([0x200E, 0x200F, 0x061C, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def _text(value: str | bytes) -> str:
    """bytes as UTF-8, undecodable bytes kept visible as U+DC80..U+DCFF (surrogateescape)."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _bytes(value: str | bytes) -> bytes:
    """The exact bytes of `value`: str as UTF-8, surrogateescape'd bytes (os.fsdecode) restored."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:        # a lone surrogate that did not come from surrogateescape
        return value.encode("utf-8", "surrogatepass")


def c_string(value: str | bytes) -> str:
    """A C (and C++) string literal whose bytes equal `value` (str as UTF-8).

    Printable ASCII stays as it is except `"`, `\\` and `?` (trigraphs such as `??/`), which are
    backslash-escaped; every other byte is a 3-digit octal escape, which cannot merge with a digit after
    it (an octal escape takes at most three digits; a hex escape takes all of them).
    """
    out = []
    for b in _bytes(value):
        if b in (0x22, 0x5C, 0x3F):                       # " \ ?
            out.append("\\" + chr(b))
        elif b in _PRINTABLE:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _escape_char(o: int) -> str:
    """\\xNN for an ASCII character or an undecodable byte, \\uNNNN / \\UNNNNNNNN for a code point."""
    if 0xDC80 <= o <= 0xDCFF:                             # an undecodable byte (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x80:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def one_line(value: str | bytes) -> str:
    """One line of printable ASCII: every other character (newlines, control characters, non-ASCII,
    undecodable bytes) and the backslash itself as a backslash escape (\\x0a, \\u00e9, \\x5c)."""
    return "".join(ch if ord(ch) in _PRINTABLE and ch != "\\" else _escape_char(ord(ch)) for ch in _text(value))


def printable(value: str | bytes) -> str:
    """`value` with control characters (but tab and newline), lone surrogates (undecodable bytes, JSON
    "\\udcff") and bidi controls as backslash escapes; other Unicode is kept. Safe to draw with
    matplotlib, to encode as UTF-8 and to show in a terminal (no escape sequences)."""
    out = []
    for ch in _text(value):
        o = ord(ch)
        if ch in "\t\n" or not (unicodedata.category(ch) in ("Cc", "Cs") or o in _BIDI):
            out.append(ch)
        else:
            out.append(_escape_char(o))
    return "".join(out)


def c_comment(value: str | bytes) -> str:
    """Text safe inside a C block comment and after `//`: `one_line` (so no newline, and a backslash is
    always followed by x/u/U: no line splice), then `*/` and `/*` broken by a space and `??` (the start
    of a trigraph; `??/` is a backslash) written `? ?`. Lossy on purpose: comments are for reading."""
    text = one_line(value)
    text = re.sub(r"\*(?=/)", "* ", text)
    text = re.sub(r"/(?=\*)", "/ ", text)
    return re.sub(r"\?(?=\?)", "? ", text)


def c_ident(value: str | bytes, limit: int = 28) -> str:
    """A lower-case fragment for a C identifier from a tensor name: the last path component of its first
    `;`-separated name, everything outside [0-9A-Za-z_] as `_`, at most `limit` characters, "t" if
    nothing is left. Not unique: callers prefix it with something unique (the tensor index)."""
    text = _text(value)
    head = text.split(";")[0].split("/")[-1] if text else ""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", head).strip("_").lower()
    return ident[:limit] or "t"


def shell_arg(value: str | os.PathLike[str]) -> str:
    """One word of a POSIX shell command line (quoted when needed)."""
    return shlex.quote(os.fspath(value))


def html_text(value: Any) -> str:
    """`str(value)` for HTML text or a double-quoted attribute value: `printable`, then & < > " ' escaped."""
    return html.escape(printable(str(value)), quote=True)
