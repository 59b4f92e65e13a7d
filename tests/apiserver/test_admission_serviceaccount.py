"""ServiceAccount admission: the default account, the projected token volume and its
mounts, the account's pull secrets, the opt-outs, the wait for `default`, mountable-secret
enforcement and mirror pods."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from tests.apiserver.test_admission_setup import http, namespace, ok, pod, refused, server

__all__ = ["http", "server"]

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def pods(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/pods"


async def account(http: httpx.AsyncClient, ns: str, name: str, **fields: Any) -> None:
    meta = fields.pop("metadata", {})
    ok(await http.post(f"/api/v1/namespaces/{ns}/serviceaccounts", json={
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, **meta},
        **fields}))


async def test_default_account_and_projected_token_volume(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "sa-default")
    created = ok(await http.post(pods(ns), json=pod(
        "p", {"name": "c", "image": "busybox"},
        {"name": "d", "image": "busybox",
         "volumeMounts": [{"name": "own", "mountPath": MOUNT}]},
        initContainers=[{"name": "i", "image": "busybox"}],
        volumes=[{"name": "own", "emptyDir": {}}])))
    spec = created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    volume = spec["volumes"][-1]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume["name"])
    assert volume["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt",
                       "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}
    token_mount = {"name": volume["name"], "readOnly": True, "mountPath": MOUNT}
    assert spec["containers"][0]["volumeMounts"] == [token_mount]
    assert spec["initContainers"][0]["volumeMounts"] == [token_mount]
    # A container with its own mount at the token path keeps only that.
    assert spec["containers"][1]["volumeMounts"] == [{"name": "own", "mountPath": MOUNT}]
    assert "imagePullSecrets" not in spec


async def test_automount_opt_outs_and_pull_secrets(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "sa-opt-out")
    await account(http, ns, "quiet", automountServiceAccountToken=False,
                  imagePullSecrets=[{"name": "registry"}])
    quiet = ok(await http.post(pods(ns), json=pod("quiet", serviceAccountName="quiet")))
    assert "volumes" not in quiet["spec"]
    assert quiet["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    # The pod's choice wins over the account's, both ways.
    loud = ok(await http.post(pods(ns), json=pod("loud", serviceAccountName="quiet",
                                                 automountServiceAccountToken=True)))
    assert loud["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    own = ok(await http.post(pods(ns), json=pod("own", automountServiceAccountToken=False,
                                                imagePullSecrets=[{"name": "mine"}])))
    assert "volumes" not in own["spec"]
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


async def test_a_missing_account_is_refused(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "sa-missing", account=False)
    response = await http.post(pods(ns), json=pod("p", serviceAccountName="robot"))
    assert refused(response) == ('pods "p" is forbidden: error looking up service account '
                                 'sa-missing/robot: serviceaccount "robot" not found')
    response = await http.post(pods(ns), json=pod("q"))
    assert refused(response) == ('pods "q" is forbidden: error looking up service account '
                                 'sa-missing/default: serviceaccount "default" not found')


async def test_the_default_account_is_waited_for(http: httpx.AsyncClient) -> None:
    """Created moments after the namespace by its controller: a pod sent in between waits
    for it (upstream looks it up ten times, 100-200 ms apart)."""
    ns = await namespace(http, "sa-late", account=False)
    creating = asyncio.create_task(http.post(pods(ns), json=pod("early")))
    await asyncio.sleep(0.3)
    await account(http, ns, "default")
    created = ok(await creating)
    assert created["spec"]["serviceAccountName"] == "default"


async def test_mountable_secrets_are_enforced_when_the_account_asks(
        http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "sa-secrets")
    await account(http, ns, "strict", secrets=[{"name": "allowed"}],
                  metadata={"annotations": {"kubernetes.io/enforce-mountable-secrets": "true"}})
    ok(await http.post(pods(ns), json=pod(
        "fine", serviceAccountName="strict",
        volumes=[{"name": "s", "secret": {"secretName": "allowed"}}])))
    response = await http.post(pods(ns), json=pod(
        "volume", serviceAccountName="strict",
        volumes=[{"name": "s", "secret": {"secretName": "other"}}]))
    assert refused(response) == (
        'pods "volume" is forbidden: volume with secret.secretName="other" is not allowed '
        "because service account strict does not reference that secret")
    response = await http.post(pods(ns), json=pod(
        "env", {"name": "c", "image": "busybox", "env": [{"name": "PW", "valueFrom": {
            "secretKeyRef": {"name": "other", "key": "pw"}}}]}, serviceAccountName="strict"))
    assert refused(response) == (
        'pods "env" is forbidden: container c with envVar PW referencing '
        'secret.secretName="other" is not allowed because service account strict does not '
        "reference that secret")
    response = await http.post(pods(ns), json=pod(
        "pull", serviceAccountName="strict", imagePullSecrets=[{"name": "other"}]))
    assert refused(response) == (
        'pods "pull" is forbidden: imagePullSecrets[0].name="other" is not allowed because '
        "service account strict does not reference that imagePullSecret")


async def test_mirror_pods_reference_no_account_nor_secret(http: httpx.AsyncClient) -> None:
    ns = await namespace(http, "sa-mirror", account=False)
    mirror = {"annotations": {"kubernetes.io/config.mirror": "hash"}}
    plain = pod("static", nodeName="n1")
    plain["metadata"].update(mirror)
    created = ok(await http.post(pods(ns), json=plain))
    assert "serviceAccountName" not in created["spec"] and "volumes" not in created["spec"]
    named = pod("named", serviceAccountName="default", nodeName="n1")
    named["metadata"].update(mirror)
    assert refused(await http.post(pods(ns), json=named)) == \
        'pods "named" is forbidden: a mirror pod may not reference service accounts'
    secret = pod("secret", volumes=[{"name": "s", "secret": {"secretName": "x"}}],
                 nodeName="n1")
    secret["metadata"].update(mirror)
    assert refused(await http.post(pods(ns), json=secret)) == \
        'pods "secret" is forbidden: a mirror pod may not reference secrets'
