"""Go's `%q` of a string (`strconv.Quote`), for error texts that must read as upstream's.

Label and field selector errors, managed-fields conflict messages and the downward API's
messages all quote values the way Go prints them; this is the one rendering they share.
Python's `str.isprintable` stands in for Go's `unicode.IsPrint` (both keep the ASCII space
and escape the other separators).
"""

from __future__ import annotations

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    """`"a\\tb"` for `a<TAB>b`: printable runes kept, the rest escaped as Go does."""
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
