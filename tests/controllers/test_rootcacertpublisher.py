"""The root CA publisher's sync and handlers against the in-process API server.

Intent: every namespace gets `kube-root-ca.crt` with the cluster CA under `ca.crt` and
upstream's description; a deleted one comes back, an edited one is put right (other
annotations and labels kept); a namespace that is terminating or gone is no error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kybernetes.client import ApiClient, ClientConfig, NotFoundError, resource
from kybernetes.controllers.base import ControllerContext
from kybernetes.controllers.manager import CONTROLLERS, enabled_controllers
from kybernetes.controllers.rootcacertpublisher import (
    DESCRIPTION,
    RootCACertPublisher,
    client_root_ca,
)

NAMESPACES = resource("", "v1", "namespaces")
CONFIG_MAPS = resource("", "v1", "configmaps")
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
NAME = "kube-root-ca.crt"


@pytest.fixture
def ctl(ctx: ControllerContext) -> RootCACertPublisher:
    return RootCACertPublisher(ctx, CA)


async def published(api: ApiClient, ns: str) -> dict[str, Any]:
    cm = await api.get(CONFIG_MAPS, NAME, ns)
    return {"data": cm.get("data"), "annotations": cm["metadata"].get("annotations")}


async def resync(api: ApiClient, ctl: RootCACertPublisher, ns: str) -> None:
    """Sync with the cache holding what the server holds now, as the informer would."""
    try:
        ctl.config_maps.store.add(await api.get(CONFIG_MAPS, NAME, ns))
    except NotFoundError:
        ctl.config_maps.store.delete_key(f"{ns}/{NAME}")
    await ctl.sync(ns)


async def test_a_namespace_gets_the_ca_bundle(api: ApiClient,
                                              ctl: RootCACertPublisher) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "team"}})
    await resync(api, ctl, "team")
    assert await published(api, "team") == {
        "data": {"ca.crt": CA.decode()},
        "annotations": {"kubernetes.io/description": DESCRIPTION}}
    assert DESCRIPTION.startswith("Contains a CA bundle that can be used to verify the "
                                  "kube-apiserver when using internal endpoints")


async def test_a_deleted_bundle_comes_back(api: ApiClient, ctl: RootCACertPublisher) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "team"}})
    await resync(api, ctl, "team")
    await api.delete(CONFIG_MAPS, NAME, "team")
    await resync(api, ctl, "team")
    assert (await published(api, "team"))["data"] == {"ca.crt": CA.decode()}


async def test_an_edited_bundle_is_put_right(api: ApiClient, ctl: RootCACertPublisher) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "team"}})
    await resync(api, ctl, "team")
    await api.patch(CONFIG_MAPS, NAME, {
        "metadata": {"labels": {"mine": "yes"}, "annotations": {
            "kubernetes.io/description": None, "note": "kept"}},
        "data": {"ca.crt": "forged", "extra": "x"}}, "team")
    await resync(api, ctl, "team")
    cm = await api.get(CONFIG_MAPS, NAME, "team")
    assert cm["data"] == {"ca.crt": CA.decode()}
    assert cm["metadata"]["annotations"] == {"note": "kept",
                                             "kubernetes.io/description": DESCRIPTION}
    assert cm["metadata"]["labels"] == {"mine": "yes"}
    version = cm["metadata"]["resourceVersion"]
    await resync(api, ctl, "team")  # right already: not written again
    assert (await api.get(CONFIG_MAPS, NAME, "team"))["metadata"]["resourceVersion"] == version


async def test_terminating_and_unknown_namespaces_are_no_error(
        api: ApiClient, ctl: RootCACertPublisher) -> None:
    await api.create(NAMESPACES, {"metadata": {"name": "going"}})
    await api.delete(NAMESPACES, "going")
    assert (await api.get(NAMESPACES, "going"))["status"]["phase"] == "Terminating"
    await ctl.sync("going")
    await ctl.sync("unknown")
    with pytest.raises(NotFoundError):
        await api.get(CONFIG_MAPS, NAME, "going")


def test_handlers_enqueue_namespaces(ctl: RootCACertPublisher) -> None:
    ctl._namespace_added({"metadata": {"name": "a"}})
    ctl._namespace_updated({"metadata": {"name": "b"}, "status": {"phase": "Terminating"}})
    ctl._namespace_updated({"metadata": {"name": "c"}, "status": {"phase": "Active"}})
    ctl._config_map_changed({"metadata": {"name": NAME, "namespace": "d"}})
    ctl._config_map_changed({"metadata": {"name": "other", "namespace": "e"}})
    assert sorted(ctl.queue._queue) == ["a", "c", "d"]


def test_the_bundle_is_the_one_the_manager_trusts(tmp_path: Path) -> None:
    assert client_root_ca(ClientConfig(server="https://x", ca_data=CA)) == CA
    (tmp_path / "ca.crt").write_bytes(CA)
    assert client_root_ca(ClientConfig(server="https://x", ca_file=str(tmp_path / "ca.crt"))) \
        == CA
    assert "root-ca-certificate-publisher-controller" in enabled_controllers(["*"])
    assert CONTROLLERS["root-ca-certificate-publisher-controller"].service_account == \
        "root-ca-cert-publisher"
