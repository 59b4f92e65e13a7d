"""Parsers for flag values that more than one `kyb` command takes."""

from __future__ import annotations

import argparse


def parse_bool(text: str) -> bool:
    """A boolean flag value (`--leader-elect=false`): true/1/t/yes or false/0/f/no."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")
