"""The informer cache: keys, indices kept in step with every write."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.client.informer import (
    NAMESPACE_INDEX,
    Store,
    field_index,
    label_index,
    meta_namespace_key,
    namespace_index,
    split_key,
)


def pod(name: str, namespace: str = "default", node: str = "", rv: str = "1",
        **labels: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace,
                                        "resourceVersion": rv, "labels": labels},
                           "spec": {}}
    if node:
        obj["spec"]["nodeName"] = node
    return obj


def test_keys_are_namespace_slash_name_or_name() -> None:
    assert meta_namespace_key(pod("web", "prod")) == "prod/web"
    assert meta_namespace_key({"metadata": {"name": "node-1"}}) == "node-1"
    assert split_key("prod/web") == ("prod", "web")
    assert split_key("node-1") == ("", "node-1")


def test_add_update_delete_and_list() -> None:
    store = Store()
    assert store.add(pod("a")) is None
    old = store.add(pod("a", rv="2"))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    store.add(pod("b", "other"))
    assert sorted(store.keys()) == ["default/a", "other/b"]
    assert len(store) == 2 and "default/a" in store
    got = store.get("default/a")
    assert got is not None and got["metadata"]["resourceVersion"] == "2"
    assert store.delete(pod("a")) is not None
    assert store.get("default/a") is None
    assert store.delete_key("default/missing") is None
    assert [o["metadata"]["name"] for o in store.list()] == ["b"]


def test_index_follows_field_changes() -> None:
    """Pods by node: moving a pod between nodes moves it between index buckets."""
    store = Store({"node": field_index("spec.nodeName"), NAMESPACE_INDEX: namespace_index})
    store.add(pod("a", node="n1"))
    store.add(pod("b", node="n1"))
    store.add(pod("c"))  # unscheduled: not indexed
    assert {o["metadata"]["name"] for o in store.by_index("node", "n1")} == {"a", "b"}
    assert store.index_keys("node", "n1") == ["default/a", "default/b"]
    store.update(pod("a", node="n2"))
    assert store.index_keys("node", "n1") == ["default/b"]
    assert store.index_keys("node", "n2") == ["default/a"]
    store.delete(pod("b"))
    assert store.by_index("node", "n1") == []
    assert sorted(store.index_values("node")) == ["n2"], "empty buckets are dropped"
    assert len(store.by_index(NAMESPACE_INDEX, "default")) == 2


def test_index_of_an_object_and_label_index() -> None:
    store = Store({"app": label_index("app")})
    store.add(pod("a", app="web"))
    store.add(pod("b", app="web"))
    store.add(pod("c", app="db"))
    assert {o["metadata"]["name"] for o in store.index("app", pod("x", app="web"))} == \
        {"a", "b"}


def test_indexers_added_later_cover_existing_objects() -> None:
    store = Store()
    store.add(pod("a", node="n1"))
    node = field_index("spec.nodeName")
    store.add_indexers({"node": node})
    assert store.index_keys("node", "n1") == ["default/a"]
    store.add_indexers({"node": node})  # the same function again: fine
    with pytest.raises(ValueError):
        store.add_indexers({"node": field_index("spec.nodeName")})
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_replace_rebuilds_contents_and_indices() -> None:
    store = Store({"node": field_index("spec.nodeName")})
    store.add(pod("a", node="n1"))
    store.replace([pod("b", node="n2"), pod("c", node="n2")])
    assert sorted(store.keys()) == ["default/b", "default/c"]
    assert store.by_index("node", "n1") == []
    assert store.index_keys("node", "n2") == ["default/b", "default/c"]
