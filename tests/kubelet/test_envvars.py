"""Container environments against a real in-process API server: ConfigMaps, Secrets,
Services (with allocated cluster IPs) and the Node are real objects read through the
kubelet's watched copies (`KubeletListers`, each pod registered first); expectations are
upstream's (kubelet_pods_test.go, envvars_test.go, expansion_test.go)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kybernetes.client import ApiClient
from kybernetes.kubelet.envvars import EnvError, container_env, service_env
from kybernetes.kubelet.listers import KubeletListers
from kybernetes.kubelet.volumes.expansion import expand, mapping_for

Obj = dict[str, Any]
PODS = ("", "v1", "pods")
CONFIGMAPS = ("", "v1", "configmaps")
SECRETS = ("", "v1", "secrets")
SERVICES = ("", "v1", "services")
NAMESPACES = ("", "v1", "namespaces")
NODES = ("", "v1", "nodes")
NODE = "node-a"
NS = "shop"


@pytest.fixture
async def lookups(api: ApiClient) -> AsyncIterator[KubeletListers]:
    await api.create(NAMESPACES, {"metadata": {"name": NS}})
    await api.create(NODES, {"metadata": {"name": NODE}})
    node = await api.get(NODES, NODE)
    node["status"] = {"allocatable": {"cpu": "2", "memory": "4Gi",
                                      "ephemeral-storage": "10Gi"},
                      "addresses": [{"type": "Hostname", "address": NODE},
                                    {"type": "InternalIP", "address": "192.0.2.10"},
                                    {"type": "InternalIP", "address": "2001:db8::10"}]}
    await api.update_status(NODES, node)
    listers = KubeletListers(api, NODE)
    try:
        yield listers
    finally:
        await listers.aclose()


async def make_pod(api: ApiClient, lookups: KubeletListers, container: Obj, *,
                   links: bool = True, name: str = "web") -> Obj:
    pod: Obj = await api.create(PODS, {
        "metadata": {"name": name, "labels": {"app": "web"},
                     "annotations": {"team": "blue"}},
        "spec": {"nodeName": NODE, "serviceAccountName": "default",
                 "enableServiceLinks": links,
                 "containers": [{"name": "c", "image": "busybox", **container}]}}, NS)
    await lookups.register_pod(pod)
    return pod


async def env_of(api: ApiClient, lookups: KubeletListers, container: Obj, *, links: bool = True,
                 pod_ips: list[str] | None = None, name: str = "web") -> dict[str, str]:
    pod = await make_pod(api, lookups, container, links=links, name=name)
    pairs = await container_env(pod, pod["spec"]["containers"][0], lookups=lookups,
                                pod_ips=pod_ips)
    assert len(pairs) == len(dict(pairs))  # no name twice
    return dict(pairs)


async def env_error(api: ApiClient, lookups: KubeletListers, container: Obj) -> str:
    pod = await make_pod(api, lookups, container)
    with pytest.raises(EnvError) as caught:
        await container_env(pod, pod["spec"]["containers"][0], lookups=lookups)
    return str(caught.value)


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


# -------------------------------------------------------------------------- expansion


@pytest.mark.parametrize(("text", "want"), [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_EMPTY)", ""),
    ("$(UNKNOWN)", "$(UNKNOWN)"),
    ("$$(VAR_A)", "$(VAR_A)"),
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("$(VAR_A", "$(VAR_A"),
    ("$VAR_A", "$VAR_A"),
    ("$", "$"),
    ("$()", ""),
    ("foo$", "foo$"),
    ("$(VAR_A)$(VAR_B", "A$(VAR_B"),
])
def test_expansion_matches_upstream(text: str, want: str) -> None:
    mapping = mapping_for({"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}, {"": ""})
    assert expand(text, mapping) == want


# --------------------------------------------------------------------- service variables


def test_service_env_names_ports_and_docker_links() -> None:
    env = service_env([{"metadata": {"name": "foo-bar"}, "spec": {
        "clusterIP": "10.43.0.5", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"}]}},
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None",
                                                    "ports": [{"port": 1}]}}])
    assert env == {
        "FOO_BAR_SERVICE_HOST": "10.43.0.5",
        "FOO_BAR_SERVICE_PORT": "80",
        "FOO_BAR_SERVICE_PORT_HTTP": "80",
        "FOO_BAR_SERVICE_PORT_DNS": "53",
        "FOO_BAR_PORT": "tcp://10.43.0.5:80",
        "FOO_BAR_PORT_80_TCP": "tcp://10.43.0.5:80",
        "FOO_BAR_PORT_80_TCP_PROTO": "tcp",
        "FOO_BAR_PORT_80_TCP_PORT": "80",
        "FOO_BAR_PORT_80_TCP_ADDR": "10.43.0.5",
        "FOO_BAR_PORT_53_UDP": "udp://10.43.0.5:53",
        "FOO_BAR_PORT_53_UDP_PROTO": "udp",
        "FOO_BAR_PORT_53_UDP_PORT": "53",
        "FOO_BAR_PORT_53_UDP_ADDR": "10.43.0.5"}


def test_service_env_brackets_ipv6() -> None:
    env = service_env([{"metadata": {"name": "v6"}, "spec": {
        "clusterIP": "fd00::5", "ports": [{"port": 80}]}}])
    assert env["V6_PORT"] == "tcp://[fd00::5]:80"
    assert env["V6_PORT_80_TCP_ADDR"] == "fd00::5"


async def test_service_links_follow_enable_service_links(
        api: ApiClient, lookups: KubeletListers) -> None:
    svc = await api.create(SERVICES, {"metadata": {"name": "db"},
                                      "spec": {"ports": [{"port": 5432}]}}, NS)
    await api.create(SERVICES, {"metadata": {"name": "other"},
                                "spec": {"ports": [{"port": 1}]}}, "default")
    kube = await api.get(SERVICES, "kubernetes", "default")
    env = await env_of(api, lookups, {})
    assert env["DB_SERVICE_HOST"] == svc["spec"]["clusterIP"]
    assert env["DB_SERVICE_PORT"] == "5432"
    assert env["KUBERNETES_SERVICE_HOST"] == kube["spec"]["clusterIP"]
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert "OTHER_SERVICE_HOST" not in env  # another namespace's services are not linked

    env = await env_of(api, lookups, {}, links=False, name="unlinked")
    assert "DB_SERVICE_HOST" not in env
    assert env["KUBERNETES_SERVICE_HOST"] == kube["spec"]["clusterIP"]  # always there


# -------------------------------------------------------------------- env and envFrom


async def test_env_from_env_values_and_expansion(api: ApiClient, lookups: KubeletListers) -> None:
    await api.create(CONFIGMAPS, {"metadata": {"name": "cfg"},
                                  "data": {"MODE": "prod", "1-odd.key": "kept", "PORT": "1"}},
                     NS)
    await api.create(SECRETS, {"metadata": {"name": "sec"},
                               "data": {"PASSWORD": b64("hunter2"), "PORT": b64("2")}}, NS)
    env = await env_of(api, lookups, {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                    {"configMapRef": {"name": "cfg"}},
                    {"secretRef": {"name": "sec"}},
                    {"secretRef": {"name": "missing", "optional": True}}],
        "env": [{"name": "MODE", "value": "dev"},
                {"name": "URL", "value": "http://$(HOST):$(PORT)/$(MODE)"},
                {"name": "HOST", "value": "db"},
                {"name": "LITERAL", "value": "$$(MODE) costs $$5"},
                {"name": "SVC", "value": "$(KUBERNETES_SERVICE_PORT)"},
                {"name": "EMPTY"}]})
    assert env["CFG_MODE"] == "prod" and env["CFG_PORT"] == "1"
    assert env["1-odd.key"] == "kept"  # relaxed env var names (GA in 1.34): not skipped
    assert env["PASSWORD"] == "hunter2"
    assert env["PORT"] == "2"  # the later envFrom source wins
    assert env["MODE"] == "dev"  # env overrides envFrom
    assert env["URL"] == "http://$(HOST):2/dev"  # HOST is declared after URL
    assert env["LITERAL"] == "$(MODE) costs $5"
    assert env["SVC"] == "443"
    assert env["EMPTY"] == ""


async def test_value_from_config_map_and_secret_keys(
        api: ApiClient, lookups: KubeletListers) -> None:
    await api.create(CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"level": "debug"}}, NS)
    await api.create(SECRETS, {"metadata": {"name": "sec"}, "data": {"token": b64("t0k")}}, NS)
    env = await env_of(api, lookups, {"env": [
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
        {"name": "OPT_KEY", "valueFrom": {"configMapKeyRef": {
            "name": "cfg", "key": "nope", "optional": True}}},
        {"name": "OPT_OBJ", "valueFrom": {"secretKeyRef": {
            "name": "nope", "key": "x", "optional": True}}}]})
    assert env["LEVEL"] == "debug" and env["TOKEN"] == "t0k"
    assert "OPT_KEY" not in env and "OPT_OBJ" not in env


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "y"}}}],
     "couldn't find key y in ConfigMap shop/cfg"),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "y"}}}],
     "couldn't find key y in Secret shop/sec"),
    ([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}],
     'configmap "x" not found'),
    ([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}}}],
     'secret "x" not found'),
])
async def test_missing_keys_and_objects_are_worded_as_upstream(
        api: ApiClient, lookups: KubeletListers, env: list[Obj], message: str) -> None:
    await api.create(CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}}, NS)
    await api.create(SECRETS, {"metadata": {"name": "sec"}, "data": {"a": b64("1")}}, NS)
    assert await env_error(api, lookups, {"env": env}) == message


async def test_missing_env_from_object_fails(api: ApiClient, lookups: KubeletListers) -> None:
    assert await env_error(api, lookups, {"envFrom": [{"configMapRef": {"name": "gone"}}]}) \
        == 'configmap "gone" not found'


# ----------------------------------------------------------------- downward API in env


async def test_field_refs(api: ApiClient, lookups: KubeletListers) -> None:
    fields = {"NAME": "metadata.name", "NAMESPACE": "metadata.namespace",
              "UID": "metadata.uid", "APP": "metadata.labels['app']",
              "TEAM": "metadata.annotations['team']", "NODE": "spec.nodeName",
              "SA": "spec.serviceAccountName", "HOST_IP": "status.hostIP",
              "HOST_IPS": "status.hostIPs", "POD_IP": "status.podIP",
              "POD_IPS": "status.podIPs"}
    pod = await make_pod(api, lookups, {"env": [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for name, path in fields.items()]})
    env = dict(await container_env(pod, pod["spec"]["containers"][0], lookups=lookups,
                                   pod_ips=["10.42.0.7", "fd00:42::7"]))
    assert {name: env[name] for name in fields} == {
        "NAME": "web", "NAMESPACE": NS, "UID": pod["metadata"]["uid"], "APP": "web",
        "TEAM": "blue", "NODE": NODE, "SA": "default", "HOST_IP": "192.0.2.10",
        "HOST_IPS": "192.0.2.10,2001:db8::10", "POD_IP": "10.42.0.7",
        "POD_IPS": "10.42.0.7,fd00:42::7"}


async def test_resource_field_refs_default_limits_to_node_allocatable(
        api: ApiClient, lookups: KubeletListers) -> None:
    env = await env_of(api, lookups, {
        "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                      "limits": {"memory": "128Mi"}},
        "env": [
            {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "CPU_LIMIT_M", "valueFrom": {"resourceFieldRef": {
                "resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "CPU_REQUEST", "valueFrom": {"resourceFieldRef": {
                "resource": "requests.cpu"}}},
            {"name": "MEM_LIMIT_MI", "valueFrom": {"resourceFieldRef": {
                "resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "MEM_REQUEST", "valueFrom": {"resourceFieldRef": {
                "containerName": "c", "resource": "requests.memory"}}},
            {"name": "EPHEMERAL_GI", "valueFrom": {"resourceFieldRef": {
                "resource": "limits.ephemeral-storage", "divisor": "1Gi"}}}]})
    assert env["CPU_LIMIT"] == "2"  # unset: the node's allocatable
    assert env["CPU_LIMIT_M"] == "2000"
    assert env["CPU_REQUEST"] == "1"  # 250m rounded up to whole cores
    assert env["MEM_LIMIT_MI"] == "128"
    assert env["MEM_REQUEST"] == str(64 * 1024 * 1024)
    assert env["EPHEMERAL_GI"] == "10"
