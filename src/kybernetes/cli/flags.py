"""What every `kyb` command's flags share: parsers for their values, the help formatter
that states each flag's default, and the headings they are grouped under (k3s's, as
`k3s server --help` shows them: Listener, Cluster, Data, Database, Networking...)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

# Headings of the flag groups, in the order `--help` shows them.
CONFIG = "Config"
LOGGING = "Logging"
LISTENER = "Listener"
CLUSTER = "Cluster"
CLIENT = "Client"
DATA = "Data"
DATABASE = "Database"
NETWORKING = "Networking"
SECURITY = "Security"
COMPONENTS = "Components"
CONTROLLERS = "Controllers"
STORAGE = "Storage"
AGENT_NODE = "Agent/Node"
AGENT_RUNTIME = "Agent/Runtime"
AGENT_NETWORKING = "Agent/Networking"
_ORDER = (CONFIG, LOGGING, LISTENER, CLUSTER, CLIENT, DATA, DATABASE, NETWORKING, SECURITY,
          COMPONENTS, CONTROLLERS, STORAGE, AGENT_NODE, AGENT_RUNTIME, AGENT_NETWORKING)


def parse_bool(text: str) -> bool:
    """A boolean flag value (`--leader-elect=false`): true/1/t/yes or false/0/f/no."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends `(default: X)` to a flag's help unless the help already says its default,
    or there is none to state (an unset value, a switch that is off, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default: Any = action.default
        if (not action.option_strings or "default" in text or default is None
                or default is argparse.SUPPRESS or default in ("", [], {})
                or (isinstance(default, bool) and action.nargs == 0)):
            return text
        if isinstance(default, bool):
            return f"{text} (default: {'true' if default else 'false'})"
        return f"{text} (default: %(default)s)"


def group(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """`parser`'s group of flags headed `title`, made on first use, so the flags that
    several commands share land under one heading with the command's own."""
    for existing in parser._action_groups:
        if existing.title == title:
            return existing
    return parser.add_argument_group(title)


def command(commands: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A `kyb` subcommand whose help states the flags' defaults, its groups of flags in
    k3s's order (`--help` leaves out the groups that stay empty)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, formatter_class=HelpFormatter, **kwargs)
    for title in _ORDER:
        group(parser, title)
    return parser


def add_private_registry(group: Any) -> None:
    """`--private-registry`, k3s's flag for registries.yaml (mirrors, auth and TLS of
    registries), shared by the node's commands and `kyb image pull`."""
    group.add_argument("--private-registry", type=Path, default=None, metavar="FILE",
                       help="registry mirrors, auth and TLS, as k3s's registries.yaml "
                            "(default: <data-dir>/registries.yaml, if it exists)")


def fail(command: str, message: str) -> NoReturn:
    """End `kyb <command>` on a usage error: one line on standard error, exit status 2, as
    argparse does for a bad flag (no traceback, no usage dump)."""
    print(f"kyb {command}: error: {message}", file=sys.stderr)
    raise SystemExit(2)
