"""Flags that make no sense together end `kyb` with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kybernetes.cli.main import main

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("argv", "message"), [
    (["server", "--etcd-cafile", "/ca.crt"],
     "kyb server: error: --etcd-cafile needs --storage etcd://HOST:PORT (storage is SQLite)"),
    (["apiserver", "--storage", "sqlite:///x.db", "--etcd-keyfile", "/k", "--etcd-certfile",
      "/c"], "--etcd-certfile needs --storage etcd://HOST:PORT (storage is sqlite:///x.db)"),
    (["server", "--storage", "etcd://127.0.0.1:2379", "--etcd-certfile", "/c"],
     "kyb server: error: --etcd-certfile and --etcd-keyfile go together"),
    (["agent", "--server", "https://127.0.0.1:6443"],
     "kyb agent: error: --server needs --token"),
])
def test_a_bad_combination_is_a_one_line_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--data-dir", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_the_command_prints_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kybernetes.cli.main", "server", "--data-dir", str(tmp_path),
         "--etcd-cafile", str(tmp_path / "ca.crt")],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "kyb server: error: --etcd-cafile needs --storage etcd://HOST:PORT (storage is "
        "SQLite)"]
