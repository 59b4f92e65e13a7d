"""Go (RE2) regular expressions, as schemas' `pattern`s are written, for Python's `re`.

The syntax is mostly shared; what differs and is translated: inline flags in the middle
of a pattern (`a(?i)b|c`: RE2 scopes them to the rest of the group, Python accepts only
leading global flags, so they become `a(?i:b)|(?i:c)`), `\\z` (Python's `\\Z`) and the
POSIX classes inside brackets (`[[:alpha:]]`).
"""

from __future__ import annotations

import re
from functools import lru_cache

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7F", "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
_FLAGS = re.compile(r"\(\?([imsU]+)\)")
_POSIX_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


def translate(pattern: str) -> str:
    """The Python spelling of an RE2 pattern."""
    out: list[str] = []
    # For each open group, the scoped flags opened in it (closed with each alternative and
    # with the group, reopened after each `|`).
    scoped: list[list[str]] = [[]]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append("\\Z" if pattern[i + 1] == "z" else pattern[i:i + 2])
            i += 2
            continue
        if ch == "[":
            end = _class_end(pattern, i)
            out.append(_POSIX_CLASS.sub(_posix, pattern[i:end]))
            i = end
            continue
        flags = _FLAGS.match(pattern, i)
        if flags is not None:
            wanted = flags.group(1).replace("U", "")
            if i == 0:
                out.append(f"(?{wanted})" if wanted else "")
            elif wanted:
                out.append(f"(?{wanted}:")
                scoped[-1].append(wanted)
            i = flags.end()
            continue
        if ch == "(":
            scoped.append([])
        elif ch == ")" and len(scoped) > 1:
            out.append(")" * len(scoped.pop()))
        elif ch == "|" and scoped[-1]:
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
            continue
        out.append(ch)
        i += 1
    out.append(")" * len(scoped[0]))
    return "".join(out)


def _posix(match: re.Match[str]) -> str:
    chars = _POSIX.get(match.group(2))
    if chars is None:
        return match.group(0)
    return chars if not match.group(1) else match.group(0)


def _class_end(pattern: str, start: int) -> int:
    """The index after the bracket expression starting at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            if close != -1:
                i = close + 2
                continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return len(pattern)


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The compiled pattern; re.error when it is not valid."""
    return re.compile(translate(pattern))
