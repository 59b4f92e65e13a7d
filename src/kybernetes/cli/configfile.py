"""A command's flags from a YAML file, as k3s's `config.yaml`: `kyb server`, `kyb agent`
and `kyb apiserver` read `--config FILE`, else `<data-dir>/config.yaml` if it exists.

Its keys are the flag names without the leading dashes (`data-dir: /srv/kyb`,
`node-label: [a=b, c=d]`); a value replaces the flag's default and a flag on the command
line replaces the file's value (a repeatable flag given on the command line replaces the
file's whole list, as k3s does). A switch takes true or false; a repeatable flag takes a
YAML list or one value; every other flag one value, spelt as on the command line
(`controllers: "*,-podgc"`). An unknown key or a value the flag would refuse is an error
naming the file and the key.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kybernetes.cli import flags

FILE_NAME = "config.yaml"
# Flags that make no sense in the file itself.
_NOT_IN_FILE = frozenset({"help", "config"})


class ConfigFileError(Exception):
    """The config file cannot be read, or a key or value in it is wrong."""


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    flags.group(parser, flags.CONFIG).add_argument(
        "--config", dest="config_file", type=Path, default=None, metavar="FILE",
        help=f"read flags from this YAML file, keyed by flag name without dashes (default: "
             f"<data-dir>/{FILE_NAME} if it exists)")


def load(path: Path) -> dict[str, Any]:
    """The mapping in the YAML file `path` (an empty file is an empty mapping)."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigFileError(f"{path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(key, str) for key in loaded):
        raise ConfigFileError(f"{path}: expected a mapping of flag names to values")
    return loaded


def apply(parser: argparse.ArgumentParser, values: Mapping[str, Any],
          given: argparse.Namespace, path: Path) -> None:
    """Make `values` (from the file `path`) the defaults of `parser`'s flags; `given` is
    the command line parsed without them, which says which repeatable flags it set."""
    actions = {option[2:]: action for action in parser._actions
               for option in action.option_strings if option.startswith("--")}
    defaults: dict[str, Any] = {}
    for key, value in values.items():
        action = actions.get(key)
        if action is None or key in _NOT_IN_FILE or action.dest == argparse.SUPPRESS:
            raise ConfigFileError(f"{path}: unknown key {key!r} (keys are the flag names of "
                                  f"this command, without dashes)")
        if isinstance(action, argparse._AppendAction) and \
                getattr(given, action.dest) != action.default:
            continue  # the command line's list replaces the file's
        try:
            defaults[action.dest] = _value(action, value)
        except ConfigFileError as err:
            raise ConfigFileError(f"{path}: {key}: {err}") from None
    parser.set_defaults(**defaults)


def _value(action: argparse.Action, value: Any) -> Any:
    if action.nargs == 0:  # a switch: store_true, store_false
        if not isinstance(value, bool):
            raise ConfigFileError(f"expected true or false, got {value!r}")
        return action.const if value else action.default
    if isinstance(action, argparse._AppendAction):
        return [_convert(action, item) for item in (value if isinstance(value, list)
                                                    else [value])]
    return _convert(action, value)


def _convert(action: argparse.Action, value: Any) -> Any:
    text = _text(value)
    try:
        converted = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
        raise ConfigFileError(f"invalid value {value!r}: {err}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigFileError(f"invalid choice {value!r} (choose from {choices})")
    return converted


def _text(value: Any) -> str:
    """A scalar YAML value as the command line would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, list | dict):
        raise ConfigFileError(f"expected a single value, got {value!r}")
    return str(value)
