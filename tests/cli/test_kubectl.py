"""`kyb kubectl` runs kubectl with the server's kubeconfig: $KUBECONFIG, else
`--data-dir`'s, else the default data dir's; with none there it says so (kubectl would
otherwise talk to localhost:8080)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kybernetes.cli import main as cli


class Executed(Exception):
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(argv)
        self.argv, self.env = argv, env


@pytest.fixture
def data_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """This user's default data dir and root's, both empty; kubectl's exec recorded."""
    mine, roots = tmp_path / "mine", tmp_path / "root"
    monkeypatch.setattr(cli, "default_data_dir", lambda: mine)
    monkeypatch.setattr(cli, "ROOT_DATA_DIR", roots)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setattr(cli.shutil, "which", lambda name: f"/usr/bin/{name}")

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        raise Executed(argv, env)

    monkeypatch.setattr(cli.os, "execve", execve)
    return mine, roots


def kubectl(*argv: str) -> Executed:
    with pytest.raises(Executed) as executed:
        cli.main(["kubectl", *argv])
    return executed.value


def write_kubeconfig(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True)
    path = data_dir / "kubeconfig.yaml"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


def test_the_default_data_dirs_kubeconfig(data_dirs: tuple[Path, Path]) -> None:
    mine, roots = data_dirs
    path = write_kubeconfig(mine)
    write_kubeconfig(roots)
    executed = kubectl("get", "pods", "-A")
    assert executed.argv == ["/usr/bin/kubectl", "get", "pods", "-A"]
    assert executed.env["KUBECONFIG"] == str(path)


def test_roots_data_dir_when_the_users_has_none(data_dirs: tuple[Path, Path]) -> None:
    _, roots = data_dirs
    path = write_kubeconfig(roots)
    assert kubectl("get", "nodes").env["KUBECONFIG"] == str(path)


def test_the_data_dir_flag_anywhere(data_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    write_kubeconfig(data_dirs[0])
    path = write_kubeconfig(tmp_path / "other")
    executed = kubectl("get", "nodes", "--data-dir", str(tmp_path / "other"))
    assert executed.env["KUBECONFIG"] == str(path)
    assert executed.argv == ["/usr/bin/kubectl", "get", "nodes"]


def test_kubeconfig_in_the_environment_wins(data_dirs: tuple[Path, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write_kubeconfig(data_dirs[0])
    monkeypatch.setenv("KUBECONFIG", "/elsewhere.yaml")
    assert kubectl("version").env["KUBECONFIG"] == "/elsewhere.yaml"


def test_no_kubeconfig_anywhere_is_said(data_dirs: tuple[Path, Path]) -> None:
    mine, roots = data_dirs
    with pytest.raises(SystemExit) as exited:
        cli.main(["kubectl", "get", "pods"])
    message = str(exited.value.code)
    assert message.startswith("kyb kubectl: no kubeconfig at ")
    assert str(mine / "kubeconfig.yaml") in message and str(roots / "kubeconfig.yaml") in message
