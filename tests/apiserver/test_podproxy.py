"""Locating a pod's kubelet for log/exec/attach/portforward: container choice, node
address, the query passed on, and kubelet refusals as `Status` objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.podproxy import (
    kubelet_error,
    log_query,
    node_endpoint,
    pick_container,
    stream_query,
)

POD = {"spec": {"containers": [{"name": "a"}, {"name": "b"}],
                "initContainers": [{"name": "init"}]}}


@pytest.mark.parametrize(("pod", "requested", "expected"), [
    ({"spec": {"containers": [{"name": "only"}]}}, "", "only"),
    (POD, "b", "b"),
    (POD, "init", "init"),
    (POD, "", "a container name must be specified for pod web, choose one of: [a b] or one "
              "of the init containers: [init]"),
    ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, "",
     "a container name must be specified for pod web, choose one of: [a b]"),
    (POD, "zz", "container zz is not valid for pod web"),
])
def test_pick_container(pod: dict[str, Any], requested: str, expected: str) -> None:
    try:
        assert pick_container(pod, "web", requested) == expected
    except errors.StatusError as err:
        assert (err.code, err.reason, err.message) == (400, "BadRequest", expected)


def test_node_endpoint_prefers_internal_ip_and_defaults_the_port() -> None:
    node = {"status": {"addresses": [{"type": "Hostname", "address": "n1"},
                                     {"type": "InternalIP", "address": "10.0.0.5"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10350}}}}
    assert node_endpoint(node) == ("10.0.0.5", 10350)
    bare = {"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}}
    assert node_endpoint(bare) == ("n1", 10250)
    with pytest.raises(errors.StatusError):
        node_endpoint({"metadata": {"name": "n1"}, "status": {}})


def test_log_query_passes_upstream_parameters() -> None:
    query = {"follow": ["true"], "previous": ["false"], "timestamps": ["1"],
             "sinceTime": ["2026-11-23T12:00:00+02:00"], "tailLines": ["0"],
             "limitBytes": ["10"], "container": ["a"]}
    assert parse_qs(log_query(query)) == {
        "follow": ["true"], "timestamps": ["true"], "sinceTime": ["2026-11-23T10:00:00Z"],
        "tailLines": ["0"], "limitBytes": ["10"]}


@pytest.mark.parametrize(("query", "reason"), [
    ({"tailLines": ["-1"]}, "Invalid"),
    ({"limitBytes": ["0"]}, "Invalid"),
    ({"sinceSeconds": ["x"]}, "BadRequest"),
    ({"sinceSeconds": ["5"], "sinceTime": ["2026-11-23T10:00:00Z"]}, "Invalid"),
])
def test_log_query_refuses_bad_values(query: dict[str, list[str]], reason: str) -> None:
    with pytest.raises(errors.StatusError) as refused:
        log_query(query)
    assert refused.value.reason == reason


def test_stream_query_uses_the_kubelet_names() -> None:
    query = {"command": ["sh", "-c", "echo hi"], "stdin": ["true"], "stdout": ["true"],
             "tty": ["true"], "container": ["a"]}
    assert parse_qs(stream_query("exec", query)) == {
        "input": ["1"], "output": ["1"], "tty": ["1"], "command": ["sh", "-c", "echo hi"]}
    assert parse_qs(stream_query("portforward", {"ports": ["80", "443"]})) == {
        "port": ["80,443"]}
    with pytest.raises(errors.StatusError, match="at least one command"):
        stream_query("exec", {"stdout": ["true"]})
    with pytest.raises(errors.StatusError, match="at least 1 of stdin, stdout, stderr"):
        stream_query("attach", {"tty": ["true"]})


def test_kubelet_refusals_become_statuses() -> None:
    waiting = kubelet_error(400, b'container "a" in pod "web" is waiting to start: '
                                 b"ContainerCreating", "text/plain")
    assert (waiting.code, waiting.reason) == (400, "BadRequest")
    assert waiting.message == 'container "a" in pod "web" is waiting to start: ContainerCreating'
    assert kubelet_error(404, b"pod does not exist", "text/plain").reason == "NotFound"
    empty = kubelet_error(502, b"", "text/plain")
    assert empty.reason == "Unknown"
    assert "did not return more information" in empty.message
    status = kubelet_error(500, b'{"kind":"Status","code":403,"reason":"Forbidden",'
                                b'"message":"no"}', "application/json")
    assert (status.code, status.reason, status.message) == (403, "Forbidden", "no")
