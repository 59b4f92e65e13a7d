"""Every flag of every `kyb` command explains itself: a help text, its default, a group;
`kyb --version` says which Kubernetes it implements, as the server's /version does."""

from __future__ import annotations

import argparse

import pytest

from kybernetes import __version__
from kybernetes.api.version import GIT_VERSION, KUBERNETES_VERSION
from kybernetes.apiserver.app import version_info
from kybernetes.cli.flags import HelpFormatter
from kybernetes.cli.main import _subcommand, build_parser, main
from kybernetes.client import ClientConfig

COMMANDS = [("server",), ("agent",), ("apiserver",), ("controller-manager",), ("scheduler",),
            ("proxy",), ("dns",), ("sim", "nodes"), ("image",), ("image", "pull")]


def _command(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        parser = _subcommand(parser, name)
    return parser


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if action.option_strings
            and not isinstance(action, argparse._HelpAction)
            and action.help != argparse.SUPPRESS]


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_flag_has_help_that_states_its_default(path: tuple[str, ...]) -> None:
    formatter = HelpFormatter("kyb")
    missing, no_default = [], []
    for action in _flags(_command(path)):
        if not (action.help or "").strip():
            missing.append(action.option_strings[0])
        elif action.nargs != 0 and not action.required and \
                "default" not in (formatter._get_help_string(action) or ""):
            no_default.append(action.option_strings[0])
    assert missing == [], f"flags without help: {missing}"
    assert no_default == [], f"flags whose help states no default: {no_default}"
    assert "default: None" not in " ".join(_command(path).format_help().split())


@pytest.mark.parametrize("path", [("server",), ("agent",), ("apiserver",)], ids=" ".join)
def test_flags_are_grouped_under_headings(path: tuple[str, ...]) -> None:
    parser = _command(path)
    ungrouped = [action.option_strings[0] for group in parser._action_groups
                 if group.title == "options" for action in group._group_actions
                 if not isinstance(action, argparse._HelpAction)]
    assert ungrouped == []
    titles = [group.title for group in parser._action_groups if group._group_actions]
    assert {"Config", "Cluster", "Data"} <= set(titles)


def test_the_help_says_what_the_data_dir_really_defaults_to() -> None:
    text = " ".join(_command(("server",)).format_help().split())
    assert "None" not in text
    assert "/var/lib/kybernetes as root" in text
    assert "~/.local/share/kybernetes" in text
    assert "(default: 6443)" in text


def test_a_true_default_reads_true() -> None:
    text = " ".join(_command(("controller-manager",)).format_help().split())
    assert "run under leader election (default: true)" in text


def test_version_names_kyb_and_the_kubernetes_it_reports(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"kyb version {GIT_VERSION} ")
    assert __version__ in first and KUBERNETES_VERSION in first


def test_the_server_and_the_clients_report_one_version() -> None:
    info = version_info()
    assert info["gitVersion"] == GIT_VERSION
    assert f"v{info['major']}.{info['minor']}." in KUBERNETES_VERSION
    assert ClientConfig(server="https://127.0.0.1:6443").user_agent == \
        f"kybernetes/{KUBERNETES_VERSION} (kybernetes)"
