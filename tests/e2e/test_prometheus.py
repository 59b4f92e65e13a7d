"""Prometheus metrics from every component of a real node, read with prometheus-client's
text-format parser.

`kyb server` runs with its node in a network namespace (tests/e2e/nodens.py), so the
components' default ports are free: the API server's `/metrics` (as the admin; refused to
a caller without credentials), the controller manager's secure port on 127.0.0.1:10257 and
the scheduler's on 127.0.0.1:10259 (HTTPS with a self-signed certificate, as a scraper
skipping verification reads them: a service account bound to `system:monitoring` by its
token, or a client certificate of the cluster CA in that group), kube-proxy's on
127.0.0.1:10249 and the kubelet's on its 10250 server (as the admin: `nodes/metrics`). A pod
is run so that each series has moved.

The secure ports decide as upstream's delegating filters: no credentials is
`system:anonymous`, refused `/metrics` (403) but answered `/healthz`; a token the API server
does not know is 401; a service account without the right is 403.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kybernetes.apiserver.pki import Pki, issue_client_cert, ssl_client_context
from tests.e2e.cluster import Kubectl, Server, wait_until
from tests.e2e.nodens import NODE_IP, REAL_NODE, import_busybox, new_namespace, real_node

pytestmark = [pytest.mark.e2e, REAL_NODE]

NODE = "node-prom"
IMAGE = "busybox:1.36"
Samples = dict[str, list[tuple[dict[str, str], float]]]
CONTROLLER_MANAGER = "https://127.0.0.1:10257"
SCHEDULER = "https://127.0.0.1:10259"


@dataclass
class Scrapers:
    """Who calls the secure ports: tokens of a service account bound to `system:monitoring`
    and of one bound to nothing, and a client certificate in the `system:monitoring`
    group."""

    monitoring_token: str
    unprivileged_token: str
    certificate: tuple[Path, Path]

    def client(self, *, token: str | None = None, certificate: bool = False) -> httpx.Client:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if certificate:
            context.load_cert_chain(*self.certificate)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(verify=context, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Server, Kubectl, Scrapers]]:
    data = tmp_path_factory.mktemp("kyb-prom")
    import_busybox(data, IMAGE)
    with real_node(data, "kyb-e2e-prom", NODE) as (server, kubectl):
        ns = new_namespace(kubectl, "prom")
        kubectl("run", "sleeper", "-n", ns, f"--image={IMAGE}", "--restart=Never",
                "--command", "--", "sleep", "3600")
        kubectl("create", "serviceaccount", "prometheus", "-n", ns)
        kubectl("create", "serviceaccount", "nobody", "-n", ns)
        kubectl("create", "clusterrolebinding", f"{ns}-prometheus",
                "--clusterrole=system:monitoring", f"--serviceaccount={ns}:prometheus")
        scrapers = Scrapers(
            kubectl("create", "token", "prometheus", "-n", ns).strip(),
            kubectl("create", "token", "nobody", "-n", ns).strip(),
            issue_client_cert(Pki.at(server.data_dir), "prometheus", ["system:monitoring"],
                              data / "users"))
        kubectl("wait", "-n", ns, "pod/sleeper", "--for=condition=Ready", "--timeout=120s")
        yield server, kubectl, scrapers


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: Samples, series: str, /, **labels: str) -> float:
    """The sum of the series' samples whose labels include `labels`."""
    assert series in samples, f"no {series} in {sorted(samples)}"
    return sum(value for found, value in samples[series]
               if all(found.get(k) == v for k, v in labels.items()))


def scrape(client: httpx.Client, url: str) -> Samples:
    return scrape_response(client.get(url))


def scrape_response(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = parse(response.text)
    assert not [name for name in samples if name.endswith("_created")]  # as upstream's
    return samples


def test_apiserver(cluster: tuple[Server, Kubectl, Scrapers]) -> None:
    server, kubectl, _ = cluster
    with server.client() as client:
        before = scrape(client, "/metrics")
        kubectl("get", "pods", "-A")
        after = scrape(client, "/metrics")
    labels = {"verb": "LIST", "group": "", "version": "v1", "resource": "pods",
              "scope": "cluster", "component": "apiserver", "code": "200"}
    assert total(after, "apiserver_request_total", **labels) > \
        total(before, "apiserver_request_total", **labels)
    del labels["code"]
    assert total(after, "apiserver_request_duration_seconds_count", **labels) >= 1
    assert total(after, "apiserver_request_duration_seconds_bucket", le="60.0", **labels) >= 1
    # The controllers, the scheduler, the kubelet and kube-proxy watch pods.
    assert total(after, "apiserver_registered_watchers", group="", version="v1",
                 kind="Pod") >= 1
    assert total(after, "apiserver_longrunning_requests", verb="WATCH") >= 1
    assert "kybernetes_event_loop_max_stall_seconds" in after
    # The server's own writes at start (its bootstrap objects) went through storage.
    assert total(after, "etcd_request_duration_seconds_count", operation="create",
                 type="clusterroles") >= 1
    anonymous = ssl.create_default_context(cafile=str(Pki.at(server.data_dir).ca_cert))
    with httpx.Client(verify=anonymous, timeout=30) as client:
        assert client.get(f"{server.url}/metrics").status_code in (401, 403)


def secure_scrape(scrapers: Scrapers, url: str) -> Samples:
    """`/metrics` at `url` by the monitoring token (once the API server has the binding:
    a denial is cached 10 seconds) and, the same, by the certificate."""
    def allowed() -> Samples | None:
        with scrapers.client(token=scrapers.monitoring_token) as client:
            response = client.get(f"{url}/metrics")
        return scrape_response(response) if response.status_code != 403 else None

    samples = wait_until(allowed, f"a scrape of {url} by the monitoring token", timeout=60)
    with scrapers.client(certificate=True) as client:
        scrape(client, f"{url}/metrics")
    return samples


@pytest.mark.parametrize("url", [CONTROLLER_MANAGER, SCHEDULER])
def test_the_secure_ports_authorize_as_upstream(cluster: tuple[Server, Kubectl, Scrapers],
                                                url: str) -> None:
    _, _, scrapers = cluster
    with scrapers.client() as anonymous:
        healthz = anonymous.get(f"{url}/healthz")
        metrics = anonymous.get(f"{url}/metrics")
    assert (healthz.status_code, healthz.text) == (200, "ok")
    assert (metrics.status_code, metrics.json()["message"]) == (
        403, 'forbidden: User "system:anonymous" cannot get path "/metrics"')
    with scrapers.client(token="not-a-token") as unknown:
        refused = unknown.get(f"{url}/metrics")
    assert (refused.status_code, refused.json()["reason"]) == (401, "Unauthorized")
    with scrapers.client(token=scrapers.unprivileged_token) as nobody:
        forbidden = nobody.get(f"{url}/metrics")
    assert forbidden.status_code == 403
    assert forbidden.json()["message"].endswith('cannot get path "/metrics"')
    assert "system:serviceaccount:" in forbidden.json()["message"]


def test_controller_manager(cluster: tuple[Server, Kubectl, Scrapers]) -> None:
    samples = secure_scrape(cluster[2], CONTROLLER_MANAGER)
    for name in ("workqueue_depth", "workqueue_retries_total",
                 "workqueue_unfinished_work_seconds",
                 "workqueue_longest_running_processor_seconds"):
        assert name in samples
    # The service account controller's queue took the test's namespace.
    queue = "serviceaccount-controller"
    assert total(samples, "workqueue_adds_total", name=queue) >= 1
    assert total(samples, "workqueue_queue_duration_seconds_count", name=queue) >= 1
    assert total(samples, "workqueue_work_duration_seconds_count", name=queue) >= 1


def test_scheduler(cluster: tuple[Server, Kubectl, Scrapers]) -> None:
    samples = secure_scrape(cluster[2], SCHEDULER)
    assert total(samples, "scheduler_schedule_attempts_total", result="scheduled",
                 profile="default-scheduler") >= 1
    assert total(samples, "scheduler_scheduling_attempt_duration_seconds_count",
                 result="scheduled") >= 1
    assert total(samples, "scheduler_pod_scheduling_sli_duration_seconds_count") >= 1
    assert {labels["queue"] for labels, _ in samples["scheduler_pending_pods"]} == {
        "active", "backoff", "unschedulable", "gated"}


def test_kubelet(cluster: tuple[Server, Kubectl, Scrapers]) -> None:
    server, _, _ = cluster
    pki = Pki.at(server.data_dir)
    url = f"https://{NODE_IP}:10250/metrics"
    with httpx.Client(verify=ssl_client_context(pki), timeout=30) as client:
        samples = scrape(client, url)
    assert total(samples, "kubelet_pod_start_duration_seconds_count") >= 1
    assert total(samples, "kubelet_pleg_relist_duration_seconds_count") >= 1
    for operation in ("run_podsandbox", "create_container", "start_container"):
        assert total(samples, "kubelet_runtime_operations_duration_seconds_count",
                     operation_type=operation) >= 1
        assert total(samples, "kubelet_runtime_operations_total",
                     operation_type=operation) >= 1
    anonymous = ssl.create_default_context(cafile=str(pki.ca_cert))
    with httpx.Client(verify=anonymous, timeout=30) as client:
        assert client.get(url).status_code == 401


def test_kube_proxy(cluster: tuple[Server, Kubectl, Scrapers]) -> None:
    def synced() -> Samples | None:
        with httpx.Client(timeout=30) as client:
            samples = scrape(client, "http://127.0.0.1:10249/metrics")
        count = total(samples, "kubeproxy_sync_proxy_rules_duration_seconds_count")
        return samples if count >= 1 else None

    samples = wait_until(synced, "a kube-proxy sync")
    assert total(samples, "kubeproxy_sync_full_proxy_rules_duration_seconds_count") >= 1
    assert total(samples, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") > 0
