"""Strategies are filed by group and resource (apiserver/strategies): every served
resource has one, in every version, and a lookup never lends one group's rules to a
resource of the same plural in another group (a custom resource `jobs.example.com` is no
batch Job)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kybernetes.api import errors
from kybernetes.api.registry import Registry, ResourceInfo, builtin_registry
from kybernetes.api.selectors import parse_field_selector
from kybernetes.apiserver.store import ObjectStore
from kybernetes.apiserver.strategies import ResourceStrategy, StrategyRegistry, builtin_strategies
from kybernetes.apiserver.watchcache import WatchCache
from kybernetes.storage.sqlite import SQLiteStorage

Obj = dict[str, Any]
# A custom resource whose plural is a built-in's, in a group of its own.
WIDGET_JOBS = ResourceInfo("example.com", "v1", "Job", "jobs", "job", True,
                           storage_prefix="/registry/example.com/jobs/")


def job_like() -> Obj:
    """A `Job` with none of what batch/v1 requires (no template, a selector of its own)."""
    return {"apiVersion": "example.com/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "ns", "uid": "u-1"},
            "spec": {"anything": True}}


def test_every_served_resource_has_a_strategy_in_every_version() -> None:
    strategies = builtin_strategies()
    registry = builtin_registry()
    assert registry.resources
    for info in registry.resources.values():
        strategy = strategies.get(info.group, info.plural)
        assert strategy is not None, f"{info.group_resource} {info.version} has no strategy"
        assert strategy is strategies.of(info)
        assert (strategy.kind, strategy.namespaced, strategy.has_status) == \
            (info.kind, info.namespaced, info.has_status), info.group_resource
        assert strategy.short_names == info.short_names
        assert strategy.categories == info.categories
        assert strategy.subresources == {s.name for s in info.subresources}


def test_every_builtin_strategy_serves_a_resource() -> None:
    served = {(info.group, info.plural) for info in builtin_registry().resources.values()}
    assert {s.key for s in builtin_strategies()} == served


def test_a_lookup_is_group_qualified() -> None:
    strategies = builtin_strategies()
    assert strategies.get("batch", "jobs") is not None
    assert strategies.get("example.com", "jobs") is None
    assert strategies.get("", "jobs") is None
    with pytest.raises(errors.StatusError) as raised:
        strategies.of(WIDGET_JOBS)
    assert raised.value.code == 500


def test_a_custom_resource_named_like_a_builtin_gets_none_of_its_rules() -> None:
    batch_jobs = builtin_strategies().get("batch", "jobs")
    assert batch_jobs is not None
    custom = ResourceStrategy(WIDGET_JOBS)
    assert batch_jobs.validate_create(job_like())  # batch requires a template
    assert custom.validate_create(job_like()) == []
    assert not custom.tracks_generation and batch_jobs.tracks_generation
    assert custom.printer is None and batch_jobs.printer is not None
    # batch/v1 Jobs select on status.successful; a resource of another group only on
    # metadata (upstream's default field labels).
    selector = parse_field_selector("status.successful=1")
    assert batch_jobs.convert_field_selector(selector) == selector
    with pytest.raises(errors.StatusError):
        custom.convert_field_selector(selector)
    assert custom.field_set(job_like()) == {"metadata.name": "j", "metadata.namespace": "ns"}


def test_replacing_and_removing_a_strategy() -> None:
    strategies = StrategyRegistry()
    first, second = ResourceStrategy(WIDGET_JOBS), ResourceStrategy(WIDGET_JOBS)
    strategies.add(first)
    strategies.add(second)
    assert strategies.of(WIDGET_JOBS) is second
    strategies.remove("example.com", "jobs")
    assert strategies.get("example.com", "jobs") is None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    storage = SQLiteStorage(tmp_path / "state.db")
    await storage.start()
    cache = WatchCache(storage)
    await cache.start()
    registry: Registry = builtin_registry()
    registry.add(WIDGET_JOBS)
    try:
        yield ObjectStore(registry, storage, cache)
    finally:
        await cache.stop()
        await storage.close()


async def test_the_store_serves_a_resource_only_through_its_own_strategy(
        store: ObjectStore) -> None:
    with pytest.raises(errors.StatusError) as raised:
        await store.create(WIDGET_JOBS, "ns", job_like())
    assert raised.value.code == 500
    store.strategies.add(ResourceStrategy(WIDGET_JOBS))
    created = await store.create(WIDGET_JOBS, "ns", job_like())
    assert created["spec"] == {"anything": True}  # no Job defaults, no generated selector
    assert "generation" not in created["metadata"]
