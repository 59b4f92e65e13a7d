"""`kyb controller-manager` and `kyb server` flags for the controllers.

Intent: upstream's flag spellings parse (Go durations, `--leader-elect=false`, the
`--controllers` list) into `ControllerManagerOptions`; unknown controllers are refused
before anything starts.
"""

from __future__ import annotations

import argparse

import pytest

from kybernetes.cli.main import _controller_manager_options, build_parser, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5),
    ("10", 10.0), ("0s", 0.0),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "15x", "1m30", "abc"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_controller_manager_flags() -> None:
    args = build_parser().parse_args([
        "controller-manager", "--kubeconfig", "/tmp/k.yaml", "--controllers",
        "*,-garbagecollector", "--leader-elect=false", "--leader-elect-lease-duration",
        "30s", "--leader-elect-renew-deadline", "20s", "--concurrent-gc-syncs", "5"])
    assert args.kubeconfig == "/tmp/k.yaml"
    options = _controller_manager_options(args)
    assert options.controllers == ("*", "-garbagecollector")
    assert options.leader_elect is False
    assert options.lease_duration == 30.0 and options.renew_deadline == 20.0
    assert options.retry_period == 2.0
    assert options.concurrent_gc_syncs == 5
    assert options.lease_name == "kube-controller-manager"
    assert options.lease_namespace == "kube-system"


def test_server_runs_the_controller_manager_and_scheduler_unless_disabled() -> None:
    parser = build_parser()
    defaults = parser.parse_args(["server"])
    assert defaults.disable_controller_manager is False
    assert defaults.disable_scheduler is False
    assert parser.parse_args(["server", "--disable-controller-manager"]
                             ).disable_controller_manager is True
    assert parser.parse_args(["server", "--disable-scheduler"]).disable_scheduler is True


def test_unknown_controller_is_refused_before_starting() -> None:
    args = build_parser().parse_args(["controller-manager", "--controllers", "*,nosuch"])
    with pytest.raises(SystemExit, match="nosuch"):
        _controller_manager_options(args)
