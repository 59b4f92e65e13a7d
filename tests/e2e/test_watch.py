"""Watch and paged lists: `kubectl get -w`, and at the HTTP level the semantics client-go
and the Python client rely on (resume from a list's resourceVersion, WatchList's initial
events and bookmark, selectors, `limit`/`continue`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import (
    Kubectl,
    LineReader,
    assert_status,
    make_namespace,
    open_watch,
    read_until,
    stop_process,
    watch_events,
)

pytestmark = pytest.mark.e2e
# These tests count the ConfigMaps of their namespaces exactly: no root CA publisher.
SERVER_ARGS = ["--controllers", "*,-root-ca-certificate-publisher-controller"]


def _configmap(name: str, labels: dict[str, str] | None = None,
               data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data or {}}


def _create(api: httpx.Client, ns: str, name: str, labels: dict[str, str] | None = None,
            data: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.post(f"/api/v1/namespaces/{ns}/configmaps", json=_configmap(
        name, labels, data))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _merge(api: httpx.Client, ns: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    response = api.patch(f"/api/v1/namespaces/{ns}/configmaps/{name}", content=json.dumps(
        patch), headers={"content-type": "application/merge-patch+json"})
    assert response.status_code == 200, response.text
    patched: dict[str, Any] = response.json()
    return patched


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def _rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _is(kind: str, name: str) -> Any:
    return lambda e: e["type"] == kind and e["object"]["metadata"].get("name") == name


@pytest.fixture
def kubectl_watch(kubectl: Kubectl) -> Iterator[list[subprocess.Popen[str]]]:
    """kubectl processes a test starts; stopped when it ends."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        stop_process(process, 10)


# -- kubectl get -w ----------------------------------------------------------------------


def test_kubectl_get_watch_prints_new_rows(kubectl: Kubectl, api: httpx.Client, ns: str,
                                           kubectl_watch: list[subprocess.Popen[str]]
                                           ) -> None:
    _create(api, ns, "first", data={"a": "1"})
    process = kubectl.popen("get", "-n", ns, "configmaps", "-w")
    kubectl_watch.append(process)
    assert process.stdout is not None
    lines = LineReader(process.stdout)
    assert lines.wait_for(lambda line: line.startswith("NAME")).split() == [
        "NAME", "DATA", "AGE"]
    lines.wait_for(lambda line: line.startswith("first "))
    # The list is printed: from here on, rows can only come from the watch.
    _create(api, ns, "second", data={"a": "1", "b": "2"})
    row = lines.wait_for(lambda line: line.startswith("second "))
    assert row.split()[:2] == ["second", "2"]
    _merge(api, ns, "first", {"data": {"b": "2", "c": "3"}})
    row = lines.wait_for(lambda line: line.startswith("first "))
    assert row.split()[:2] == ["first", "3"]
    assert process.poll() is None


def test_kubectl_get_watch_output_watch_events(kubectl: Kubectl, api: httpx.Client, ns: str,
                                               kubectl_watch: list[subprocess.Popen[str]]
                                               ) -> None:
    _create(api, ns, "existing")
    process = kubectl.popen("get", "-n", ns, "configmaps", "-w", "--output-watch-events")
    kubectl_watch.append(process)
    assert process.stdout is not None
    lines = LineReader(process.stdout)
    assert lines.wait_for(lambda line: line.startswith("EVENT")).split()[:2] == [
        "EVENT", "NAME"]
    assert lines.wait_for(lambda line: "existing" in line).split()[:2] == [
        "ADDED", "existing"]
    _create(api, ns, "fresh")
    _merge(api, ns, "existing", {"metadata": {"labels": {"touched": "yes"}}})
    response = api.delete(f"/api/v1/namespaces/{ns}/configmaps/fresh")
    assert response.status_code == 200, response.text
    seen = [lines.wait_for(lambda line: not line.startswith("EVENT")).split()[:2]
            for _ in range(3)]
    assert seen == [["ADDED", "fresh"], ["MODIFIED", "existing"], ["DELETED", "fresh"]]


def test_kubectl_get_watch_one_object(kubectl: Kubectl, api: httpx.Client, ns: str,
                                      kubectl_watch: list[subprocess.Popen[str]]) -> None:
    """`get NAME -w` watches with fieldSelector=metadata.name=NAME: others never show."""
    _create(api, ns, "watched", data={"v": "1"})
    _create(api, ns, "ignored", data={"v": "1"})
    process = kubectl.popen("get", "-n", ns, "configmap", "watched", "-w",
                            "-o", "jsonpath={.metadata.name}={.data.v}{'\\n'}")
    kubectl_watch.append(process)
    assert process.stdout is not None
    lines = LineReader(process.stdout)
    lines.wait_for(lambda line: line == "watched=1")
    _merge(api, ns, "ignored", {"data": {"v": "2"}})
    _merge(api, ns, "watched", {"data": {"v": "2"}})
    lines.wait_for(lambda line: line == "watched=2")
    assert lines.seen == ["watched=1", "watched=2"]


# -- watch semantics over HTTP -----------------------------------------------------------


def test_watch_from_a_list_resource_version_sends_only_later_events(
        api: httpx.Client, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    _create(api, ns, "a0", data={"v": "0"})
    _create(api, ns, "a1")
    listed = api.get(path).json()
    rv = int(listed["metadata"]["resourceVersion"])
    assert {i["metadata"]["name"] for i in listed["items"]} == {"a0", "a1"}

    _create(api, ns, "b0")
    modified = _merge(api, ns, "a0", {"data": {"v": "1"}})
    assert api.delete(f"{path}/a1").status_code == 200
    _create(api, ns, "zz-end")

    events = watch_events(api, path, {"resourceVersion": str(rv)}, _is("ADDED", "zz-end"))
    assert _summary(events) == [("ADDED", "b0"), ("MODIFIED", "a0"), ("DELETED", "a1"),
                                ("ADDED", "zz-end")]
    versions = [_rv(e["object"]) for e in events]
    assert all(v > rv for v in versions)
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert events[1]["object"]["data"] == {"v": "1"}
    assert events[1]["object"]["metadata"]["resourceVersion"] == \
        modified["metadata"]["resourceVersion"]
    for event in events:
        assert event["object"]["kind"] == "ConfigMap"
        assert event["object"]["apiVersion"] == "v1"


def test_watch_without_resource_version_starts_with_current_objects(
        api: httpx.Client, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for name in ("x", "y", "z"):
        _create(api, ns, name)
    with open_watch(api, path, {}) as events:
        initial = [next(events) for _ in range(3)]
        assert sorted(_summary(initial)) == [("ADDED", "x"), ("ADDED", "y"), ("ADDED", "z")]
        _merge(api, ns, "y", {"data": {"k": "v"}})
        assert _summary(read_until(events, lambda e: True)) == [("MODIFIED", "y")]


def test_watch_list_sends_initial_events_then_a_bookmark(api: httpx.Client, ns: str) -> None:
    """client-go 1.35's reflectors (kubectl delete --wait, rollout status) start so."""
    path = f"/api/v1/namespaces/{ns}/configmaps"
    created = [_create(api, ns, f"item-{i}") for i in range(4)]
    params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true"}
    with open_watch(api, path, params) as events:
        got = read_until(events, lambda e: e["type"] == "BOOKMARK")
        initial, bookmark = got[:-1], got[-1]
        assert sorted(_summary(initial)) == [("ADDED", f"item-{i}") for i in range(4)]
        assert {e["object"]["metadata"]["resourceVersion"] for e in initial} == \
            {c["metadata"]["resourceVersion"] for c in created}
        marker = bookmark["object"]
        assert marker["kind"] == "ConfigMap"
        assert marker["apiVersion"] == "v1"
        assert marker["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(marker["metadata"]["resourceVersion"]) >= max(_rv(c) for c in created)

        _merge(api, ns, "item-2", {"data": {"after": "bookmark"}})
        after = read_until(events, lambda e: e["type"] != "BOOKMARK")
        assert _summary(after)[-1] == ("MODIFIED", "item-2")


def test_watch_list_of_an_empty_collection_still_bookmarks(api: httpx.Client, ns: str
                                                           ) -> None:
    params = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
              "allowWatchBookmarks": "true"}
    events = watch_events(api, f"/api/v1/namespaces/{ns}/secrets", params,
                          lambda e: e["type"] == "BOOKMARK")
    assert len(events) == 1
    assert events[0]["object"]["metadata"]["annotations"] == {
        "k8s.io/initial-events-end": "true"}


def test_watch_list_without_resource_version_match_is_refused(api: httpx.Client, ns: str
                                                              ) -> None:
    response = api.get(f"/api/v1/namespaces/{ns}/configmaps", params={
        "watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
        "timeoutSeconds": "5"})
    status = assert_status(response, 422, "Invalid")
    assert "resourceVersionMatch" in status["message"]


def test_watch_with_a_label_selector(api: httpx.Client, ns: str) -> None:
    """An object entering the selection is ADDED, one leaving it DELETED."""
    path = f"/api/v1/namespaces/{ns}/configmaps"
    _create(api, ns, "shifty", labels={"color": "red"})
    _create(api, ns, "blue-one", labels={"color": "blue"})
    rv = api.get(path, params={"labelSelector": "color=red"}).json()["metadata"][
        "resourceVersion"]
    _merge(api, ns, "shifty", {"metadata": {"labels": {"color": "blue"}}})
    _merge(api, ns, "blue-one", {"data": {"never": "seen"}})
    _merge(api, ns, "shifty", {"metadata": {"labels": {"color": "red"}}})
    _merge(api, ns, "shifty", {"data": {"still": "red"}})
    _create(api, ns, "zz-end", labels={"color": "red"})
    events = watch_events(api, path, {"resourceVersion": rv, "labelSelector": "color=red"},
                          _is("ADDED", "zz-end"))
    assert _summary(events) == [("DELETED", "shifty"), ("ADDED", "shifty"),
                                ("MODIFIED", "shifty"), ("ADDED", "zz-end")]


def test_selector_deleted_event_carries_the_last_matching_state(api: httpx.Client, ns: str
                                                                ) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    _create(api, ns, "leaving", labels={"color": "red"})
    rv = api.get(path).json()["metadata"]["resourceVersion"]
    moved = _merge(api, ns, "leaving", {"metadata": {"labels": {"color": "blue"}}})
    events = watch_events(api, path, {"resourceVersion": rv, "labelSelector": "color=red"},
                          _is("DELETED", "leaving"))
    gone = events[-1]["object"]
    assert gone["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]
    assert gone["metadata"]["labels"] == {"color": "red"}


def test_watch_one_object_by_field_selector(api: httpx.Client, ns: str) -> None:
    """As `rollout status` and `delete --wait` do: GET, then watch by name from its RV."""
    path = f"/api/v1/namespaces/{ns}/configmaps"
    got = _create(api, ns, "target")
    _merge(api, ns, "target", {"data": {"step": "1"}})
    _create(api, ns, "bystander")
    assert api.delete(f"{path}/bystander").status_code == 200
    assert api.delete(f"{path}/target").status_code == 200
    events = watch_events(api, path, {
        "fieldSelector": "metadata.name=target",
        "resourceVersion": got["metadata"]["resourceVersion"]}, _is("DELETED", "target"))
    assert _summary(events) == [("MODIFIED", "target"), ("DELETED", "target")]
    # The DELETED event carries the last state of the object.
    assert events[-1]["object"]["data"] == {"step": "1"}


def test_cluster_wide_watch_sees_every_namespace(api: httpx.Client, ns: str) -> None:
    other = make_namespace(api, f"{ns}-2")
    rv = api.get("/api/v1/configmaps").json()["metadata"]["resourceVersion"]
    _create(api, ns, "here")
    _create(api, other, "there")
    events = watch_events(api, "/api/v1/configmaps", {"resourceVersion": rv},
                          _is("ADDED", "there"))
    assert [(e["type"], e["object"]["metadata"]["namespace"],
             e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", ns, "here"), ("ADDED", other, "there")]


# -- limit and continue ------------------------------------------------------------------


def _pages(api: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    token = ""
    while True:
        query = {**params, **({"continue": token} if token else {})}
        response = api.get(path, params=query)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        token = pages[-1]["metadata"].get("continue", "")
        if not token:
            return pages
        assert len(pages) < 100, "continue tokens never end"


def _names_in(pages: list[dict[str, Any]]) -> list[str]:
    return [f"{i['metadata'].get('namespace', '')}/{i['metadata']['name']}"
            for page in pages for i in page["items"]]


@pytest.mark.parametrize("limit", [1, 2, 3, 500])
def test_limit_and_continue_page_through_everything_once(api: httpx.Client, ns: str,
                                                         limit: int) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(7):
        _create(api, ns, f"page-{i}", labels={"parity": "even" if i % 2 == 0 else "odd"})
    everything = _names_in([api.get(path).json()])
    assert len(everything) == 7

    pages = _pages(api, path, {"limit": str(limit)})
    assert _names_in(pages) == everything
    assert all(len(p["items"]) <= limit for p in pages)
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1
    assert pages[0]["metadata"].get("remainingItemCount", 0) == max(0, 7 - limit)

    even = _pages(api, path, {"limit": str(limit), "labelSelector": "parity=even"})
    assert _names_in(even) == [n for n in everything if int(n[-1]) % 2 == 0]
    assert all(len(p["items"]) <= limit for p in even)


def test_cluster_wide_paging(api: httpx.Client, ns: str) -> None:
    other = make_namespace(api, f"{ns}-2")
    for name in ("a", "b", "c"):
        _create(api, ns, name)
        _create(api, other, name)
    everything = _names_in([api.get("/api/v1/configmaps").json()])
    assert _names_in(_pages(api, "/api/v1/configmaps", {"limit": "2"})) == everything
    assert len(everything) == len(set(everything)) >= 6


def test_continue_is_a_consistent_snapshot(api: httpx.Client, ns: str) -> None:
    """Later pages are served as of the first page's resourceVersion, as upstream does."""
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(4):
        _create(api, ns, f"snap-{i}", data={"v": "old"})
    first = api.get(path, params={"limit": "2"}).json()
    snapshot = int(first["metadata"]["resourceVersion"])
    _merge(api, ns, "snap-3", {"data": {"v": "new"}})
    _create(api, ns, "snap-9")
    rest = _pages(api, path, {"limit": "2", "continue": first["metadata"]["continue"]})
    items = [i for page in rest for i in page["items"]]
    assert [i["metadata"]["name"] for i in items] == ["snap-2", "snap-3"]
    assert items[1]["data"] == {"v": "old"}
    assert all(_rv(i) <= snapshot for i in items)


def test_a_garbled_continue_token_is_a_400(api: httpx.Client, ns: str) -> None:
    response = api.get(f"/api/v1/namespaces/{ns}/configmaps",
                       params={"limit": "2", "continue": "not-a-token"})
    assert_status(response, 400, "BadRequest")


def test_last_full_page_has_no_continue_token(api: httpx.Client, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(6):
        _create(api, ns, f"full-{i}")
    pages = _pages(api, path, {"limit": "2"})
    assert [len(p["items"]) for p in pages] == [2, 2, 2]


def test_continued_pages_report_remaining_items(api: httpx.Client, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(7):
        _create(api, ns, f"left-{i}")
    pages = _pages(api, path, {"limit": "2"})
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [5, 3, 1, None]
