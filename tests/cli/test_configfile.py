"""`<data-dir>/config.yaml` or `--config FILE`: flag values from YAML, as k3s's config.yaml;
the command line wins, and a wrong key or value is a one-line usage error."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kybernetes.cli.main import _parse, build_parser


def parse(*argv: str) -> argparse.Namespace:
    args, rest = _parse(build_parser(), list(argv))
    assert rest == []
    return args


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_the_data_dirs_config_file_sets_defaults_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "https-listen-port: 7443\n"
        "bind-address: 127.0.0.1\n"
        "tls-san: [a.example, b.example]\n"
        "node-label: team=x\n"
        "disable-scheduler: true\n"
        "anonymous-auth: false\n"
        "controllers: '*,-podgc'\n"
        "flannel-backend: vxlan\n"
        "leader-elect-lease-duration: 30s\n")
    args = parse("server", "--data-dir", str(tmp_path), "--https-listen-port", "8443")
    assert args.https_listen_port == 8443  # the command line wins
    assert args.bind_address == "127.0.0.1"
    assert args.tls_san == ["a.example", "b.example"]
    assert args.node_label == ["team=x"]
    assert args.disable_scheduler is True
    assert args.anonymous_auth is False
    assert args.controllers == "*,-podgc"
    assert args.flannel_backend == "vxlan"
    assert args.leader_elect_lease_duration == 30.0


def test_a_repeatable_flag_on_the_command_line_replaces_the_files_list(
        tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("tls-san: [a.example, b.example]\n")
    args = parse("server", "--data-dir", str(tmp_path), "--tls-san", "c.example")
    assert args.tls_san == ["c.example"]


def test_an_explicit_config_file_and_the_agents(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("node-name: n1\nmax-pods: 30\ndisable-kube-proxy: true\n")
    args = parse("agent", "--config", str(config), "--data-dir", str(tmp_path / "none"))
    assert (args.node_name, args.max_pods, args.disable_kube_proxy) == ("n1", 30, True)


def test_without_a_file_the_defaults_stay(tmp_path: Path) -> None:
    args = parse("apiserver", "--data-dir", str(tmp_path))
    assert args.https_listen_port == 6443 and args.tls_san == []


def test_an_unknown_key_is_an_error_naming_file_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("https-listen-port: 7443\nnode-lable: a=b\n")
    err = usage_error(capsys, "server", "--data-dir", str(tmp_path))
    assert err.startswith("kyb server: error: ")
    assert str(tmp_path / "config.yaml") in err and "unknown key 'node-lable'" in err


def test_a_flag_of_another_command_is_unknown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("node-name: n1\n")
    assert "unknown key 'node-name'" in usage_error(
        capsys, "apiserver", "--data-dir", str(tmp_path))


@pytest.mark.parametrize(("text", "message"), [
    ("https-listen-port: many\n", "https-listen-port: invalid value 'many'"),
    ("disable-agent: maybe\n", "disable-agent: expected true or false"),
    ("flannel-backend: udp\n", "flannel-backend: invalid choice 'udp'"),
    ("bind-address: [a, b]\n", "bind-address: expected a single value"),
    ("https-listen-port:\n", "https-listen-port: expected a single value"),
    ("- a\n- b\n", "expected a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_a_bad_value_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 text: str, message: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    assert message in usage_error(capsys, "server", "--data-dir", str(tmp_path))


def test_a_missing_explicit_config_file_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "server", "--config", str(tmp_path / "nope.yaml"))
    assert "nope.yaml" in err and "No such file" in err
