"""The admission chain as the API server builds it (plugin order, the enable/disable
flags), and the fixtures the other `test_admission_*` modules share: a real API server in
this process (SQLite in a temporary directory, its ASGI app behind httpx, authorization
off since ASGI carries no client certificate), with the full default admission chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess
from tests.apiserver.inprocess import http, ok

from kybernetes.apiserver.admission import setup
from kybernetes.apiserver.server import ApiServer, ApiServerConfig

__all__ = ["http", "ok"]  # the fixture, and what the other test_admission_* modules import


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as running:
        yield running


def refused(response: httpx.Response, code: int = 403) -> str:
    """The message of a refusal with this code."""
    assert response.status_code == code, response.text
    status: dict[str, Any] = response.json()
    assert status["kind"] == "Status" and status["code"] == code, status
    return str(status["message"])


def warnings(response: httpx.Response) -> list[str]:
    """The Warning headers' texts."""
    texts = []
    for value in response.headers.get_list("warning"):
        assert value.startswith('299 - "') and value.endswith('"'), value
        texts.append(value[7:-1].replace('\\"', '"').replace("\\\\", "\\"))
    return texts


async def namespace(http: httpx.AsyncClient, name: str, *, labels: dict[str, str] | None = None,
                    account: bool = True) -> str:
    """A namespace, and its `default` ServiceAccount (which the service-account controller
    would create) unless `account` is False."""
    ok(await http.post("/api/v1/namespaces", json={
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, **({"labels": labels} if labels else {})}}))
    if account:
        ok(await http.post(f"/api/v1/namespaces/{name}/serviceaccounts", json={
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}))
    return name


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A pod with these containers (one plain container `c` if none)."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "busybox"}],
                     **spec}}


def names(server: ApiServer) -> list[str]:
    return [p.name for p in server.store.admission.plugins]


async def test_default_chain_is_kube_apiservers_order(server: ApiServer) -> None:
    chain = names(server)
    ours = [n for n in chain if n in setup.PLUGINS]
    assert ours == ["NamespaceLifecycle", "LimitRanger", "ServiceAccount", "NodeRestriction",
                    "PodSecurity", "Priority", "DefaultTolerationSeconds",
                    "DefaultStorageClass", "StorageObjectInUseProtection",
                    "PersistentVolumeClaimResize", "DefaultIngressClass",
                    "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
                    "ValidatingAdmissionWebhook", "ResourceQuota"]


async def test_disabled_plugins_are_left_out(tmp_path: Path) -> None:
    async with inprocess.apiserver(
            tmp_path, authorization_mode="AlwaysAllow",
            enable_admission_plugins=["NodeRestriction"],
            disable_admission_plugins=["ServiceAccount", "PodSecurity",
                                       "CertificateSigning"]) as running:
        chain = names(running)
        assert "ServiceAccount" not in chain and "PodSecurity" not in chain
        assert "CertificateSigning" not in chain
        assert "NodeRestriction" in chain and "ResourceQuota" in chain


@pytest.mark.parametrize(("enable", "disable", "message"), [
    (["AlwaysPullImages"], [], 'enable-admission-plugins plugin "AlwaysPullImages" is unknown'),
    ([], ["Nope"], 'disable-admission-plugins plugin "Nope" is unknown'),
    (["Priority", "LimitRanger"], ["LimitRanger", "Priority"],
     "[LimitRanger Priority] in enable-admission-plugins and disable-admission-plugins "
     "overlapped"),
])
def test_unknown_or_contradictory_flags_are_refused(tmp_path: Path, enable: list[str],
                                                     disable: list[str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        ApiServer(ApiServerConfig(data_dir=tmp_path, enable_admission_plugins=enable,
                                  disable_admission_plugins=disable))
    assert str(raised.value) == message
