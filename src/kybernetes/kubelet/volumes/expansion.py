"""`$(VAR)` expansion, a port of upstream's third_party/forked/golang/expansion.

`$(NAME)` is replaced by the mapping's value; an unknown name is left as `$(NAME)` by
`mapping_for`; `$$` is an escaped `$`; a `$` before anything else, and an unclosed `$(`,
are kept as written. Used for container env values, command/args, and `subPathExpr`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"

MappingFunc = Callable[[str], str]


def mapping_for(*contexts: Mapping[str, str]) -> MappingFunc:
    """Look a name up in each context in turn; unknown names expand to themselves."""
    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"{_OPERATOR}{_OPENER}{name}{_CLOSER}"
    return lookup


def expand(text: str, mapping: MappingFunc) -> str:
    """Expand every `$(VAR)` reference in `text` through `mapping`."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == _OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable_name(text[cursor + 1:])
            out.append(mapping(read) if is_var else read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_variable_name(text: str) -> tuple[str, bool, int]:
    """(what was read, whether it is a variable name, how many characters it took)."""
    first = text[0]
    if first == _OPERATOR:
        return first, False, 1
    if first == _OPENER:
        closer = text.find(_CLOSER, 1)
        if closer >= 0:
            return text[1:closer], True, closer + 1
        return _OPERATOR + _OPENER, False, 1
    return _OPERATOR + first, False, 1
