"""A DaemonSet's template generation (upstream's daemonSetStrategy): the annotation
`deprecated.daemonset.template.generation` is 1 on create, one more at each template
change, unchanged by other updates, and not the user's to set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.apiserver import inprocess

DAEMONSETS = "/apis/apps/v1/namespaces/default/daemonsets"
MERGE = {"Content-Type": "application/merge-patch+json"}
ANNOTATION = "deprecated.daemonset.template.generation"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with inprocess.apiserver(tmp_path, authorization_mode="AlwaysAllow") as server, \
            inprocess.http_client(server.app) as client:
        yield client


def daemonset(image: str) -> dict[str, Any]:
    labels = {"app": "agent"}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "annotations": {ANNOTATION: "7"}},
            "spec": {"selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]}}}}


def generation(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["annotations"][ANNOTATION])


async def test_the_template_generation_counts_template_changes(
        http: httpx.AsyncClient) -> None:
    created = inprocess.ok(await http.post(DAEMONSETS, json=daemonset("busybox:1")))
    assert generation(created) == "7"  # upstream keeps a given generation of at least 1
    relabelled = inprocess.ok(await http.patch(f"{DAEMONSETS}/agent", headers=MERGE, json={
        "metadata": {"labels": {"x": "y"}, "annotations": {ANNOTATION: "100"}}}))
    assert generation(relabelled) == "7"
    updated = inprocess.ok(await http.patch(f"{DAEMONSETS}/agent", headers=MERGE, json={
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}}))
    assert generation(updated) == "8"
    assert updated["metadata"]["generation"] == 2


async def test_a_daemonset_without_one_starts_at_one(http: httpx.AsyncClient) -> None:
    body = daemonset("busybox:1")
    del body["metadata"]["annotations"]
    assert generation(inprocess.ok(await http.post(DAEMONSETS, json=body))) == "1"
