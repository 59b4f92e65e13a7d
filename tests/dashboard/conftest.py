"""Fixtures for the dashboard's browser tests: one `kyb server` (metrics every second) with a
simulated node for workloads and a kubelet server of local processes for logs and exec (as
tests/e2e/test_streaming.py), ServiceAccount tokens for an admin and a viewer, and Debian's
chromium driven by Playwright, failing a test on any console error it did not expect.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kybernetes.apiserver.pki import Pki
from kybernetes.kubelet.server import KubeletServer
from tests.e2e.cluster import Kubectl, Server, checked_server, wait_until
from tests.e2e.test_rollout import ready_nodes
from tests.e2e.test_scheduler import Process
from tests.kubelet.streamhost import LocalHost, serving_in_thread

CHROMIUM = os.environ.get("KYB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SIM_NODE = "dashsim-0"
STREAM_NODE = "dash-stream"
STATIC = Path(__file__).parents[2] / "src/kybernetes/dashboard/static/index.html"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (or set KYB_CHROMIUM)")
    if not STATIC.exists():
        pytest.fail("the dashboard is not built: run `npm ci && npm run build` in dashboard/")
    with checked_server(tmp_path_factory.mktemp("kyb"), ["--metric-resolution", "1s"]) \
            as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(server: Server) -> Kubectl:
    return Kubectl(server.kubeconfig)


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def sim_node(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[str]:
    """A simulated node: pods scheduled to it run (and report declared usage)."""
    logs = tmp_path_factory.mktemp("dashsim")
    process = Process("dashsim", ["sim", "nodes", "--count", "1", "--name-prefix", "dashsim-",
                                  "--kubeconfig", str(server.kubeconfig)], logs / "sim.log")
    try:
        wait_until(lambda: SIM_NODE in ready_nodes(kubectl), "the simulated node ready")
        yield SIM_NODE
    finally:
        process.stop()


@dataclass
class StreamNode:
    """A kubelet server whose containers are local processes, and its Node (tainted so
    that nothing is scheduled to it)."""
    host: LocalHost
    api: httpx.Client

    def pod(self, ns: str, name: str, containers: list[str]) -> None:
        running = {"state": {"running": {"startedAt": "2026-11-23T10:00:00Z"}}}
        created = self.api.post(f"/api/v1/namespaces/{ns}/pods", json={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": STREAM_NODE, "containers": [
                {"name": c, "image": "busybox", "stdin": True, "tty": True}
                for c in containers]}})
        assert created.status_code == 201, created.text
        pod = created.json()
        pod["status"] = {"phase": "Running"}
        assert self.api.put(f"/api/v1/namespaces/{ns}/pods/{name}/status",
                            json=pod).status_code == 200
        self.host.add_pod(ns, name, pod["metadata"]["uid"], dict.fromkeys(containers, running))


@pytest.fixture(scope="module")
def stream_node(server: Server, api: httpx.Client, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[StreamNode]:
    host = LocalHost(tmp_path_factory.mktemp("pods"))
    pki = Pki.at(server.data_dir)
    with serving_in_thread(lambda sock: KubeletServer(host, log_poll_interval=0.02).serve(
            sock, cert_file=pki.serving_cert, key_file=pki.serving_key)) as port:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": STREAM_NODE},
                "spec": {"taints": [{"key": "dashboard-test", "effect": "NoSchedule"}]}}
        assert api.post("/api/v1/nodes", json=node).status_code == 201

        def point_at_kubelet() -> bool:
            # The node controllers write the new Node too: retry on a conflict.
            current = api.get(f"/api/v1/nodes/{STREAM_NODE}").json()
            current["status"] = {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                 "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
            return api.put(f"/api/v1/nodes/{STREAM_NODE}/status",
                           json=current).status_code == 200
        wait_until(point_at_kubelet, "the stream node's status written")
        try:
            yield StreamNode(host, api)
        finally:
            host.stop()


def service_account_token(kubectl: Kubectl, name: str, cluster_role: str) -> str:
    kubectl("create", "serviceaccount", name, "-n", "kube-system")
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={cluster_role}",
            f"--serviceaccount=kube-system:{name}")
    return kubectl("create", "token", name, "-n", "kube-system", "--duration=2h").strip()


@pytest.fixture(scope="module")
def admin_token(kubectl: Kubectl) -> str:
    return service_account_token(kubectl, "dashboard-admin", "cluster-admin")


@pytest.fixture(scope="module")
def viewer_token(kubectl: Kubectl) -> str:
    return service_account_token(kubectl, "dashboard-viewer", "view")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each view's screenshot goes (`KYB_DASHBOARD_SCREENSHOTS` to keep them)."""
    kept = os.environ.get("KYB_DASHBOARD_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


# Chromium's own line for a response with an error status (the fetch still resolves).
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of "
                          r"(\d+)")


@dataclass
class Console:
    """Console errors and uncaught exceptions of a page; responses with an error status
    the test provokes on purpose (`allow(403)`) are not errors of the page."""
    errors: list[str] = field(default_factory=list)
    allowed: set[int] = field(default_factory=set)

    def allow(self, *statuses: int) -> None:
        self.allowed.update(statuses)

    def message(self, text: str) -> None:
        failed = _FAILED_LOAD.search(text)
        if failed is None or int(failed[1]) not in self.allowed:
            self.errors.append(text)


@dataclass
class Dashboard:
    page: Any
    console: Console
    server: Server
    shots: Path

    def open(self, token: str, hash_: str = "") -> None:
        self.page.goto(f"{self.server.url}/dashboard/{hash_}")
        self.page.get_by_label("Token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("link", name="Overview").wait_for()

    def go(self, hash_: str) -> None:
        self.page.evaluate("h => { location.hash = h; }", hash_)

    def namespace(self, ns: str) -> None:
        self.page.get_by_label("Namespace").select_option(ns)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture
def dashboard(browser: Any, server: Server, screenshots: Path) -> Iterator[Dashboard]:
    page = browser.new_page()
    page.set_default_timeout(20_000)
    console = Console()
    page.on("console", lambda m: console.message(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: console.errors.append(f"uncaught: {err}"))
    try:
        yield Dashboard(page, console, server, screenshots)
    finally:
        page.close()
    assert console.errors == [], f"console errors: {console.errors}"
