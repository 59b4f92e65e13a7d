"""The dashboard in a real browser (Debian's chromium, driven by Playwright): login and the
overview, switching namespace, live lists, scaling a Deployment and seeing its pods follow,
a pod's logs followed, typing in an exec terminal, editing a ConfigMap's YAML (the server's
dry-run error inline, then fixed), applying new YAML, secrets hidden until asked, deleting a
pod, and a `view` user's writes refused kindly. Each view is screenshotted; a console error
fails the test.
"""

from __future__ import annotations

import json
import re

import pytest

from kybernetes.kubelet.logs import STDOUT
from tests.dashboard.conftest import Dashboard, StreamNode
from tests.e2e.cluster import Kubectl, wait_until

pytestmark = pytest.mark.e2e

SIM_USAGE = {"sim.kybernetes.io/usage-cpu": "200m", "sim.kybernetes.io/usage-memory": "64Mi"}


def deployment(name: str, replicas: int) -> str:
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}, "annotations": SIM_USAGE},
                              "spec": {"containers": [{"name": "app",
                                                       "image": "127.0.0.1:1/web:1"}]}}}})


def test_login_and_overview(dashboard: Dashboard, admin_token: str, sim_node: str,
                            kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-overview")
    kubectl("apply", "-n", "dash-overview", "-f", "-", input=deployment("busy", 2))
    page = dashboard.page
    page.goto(f"{dashboard.server.url}/dashboard/")
    dashboard.shot("login")
    dashboard.open(admin_token)
    assert "system:serviceaccount:kube-system:dashboard-admin" in page.locator(".user").inner_text()
    dashboard.namespace("dash-overview")
    nodes = page.get_by_test_id("nodes")
    nodes.get_by_role("link", name=sim_node).wait_for()
    phases = page.get_by_test_id("pods-by-phase")
    phases.locator(".phase.running strong", has_text="2").wait_for()
    # Usage from the metrics API: the node's meter and the cluster's charts.
    nodes.locator(".meter").first.wait_for()
    page.get_by_test_id("chart-cpu").locator("polyline").wait_for(state="attached")
    dashboard.shot("overview")
    nodes.get_by_role("link", name=sim_node).click()
    page.get_by_test_id("node-pods").locator("tr[data-name^=busy-]").first.wait_for()
    page.get_by_test_id("chart-memory").locator("polyline").wait_for(state="attached")
    dashboard.shot("node")
    page.get_by_role("link", name="Events").click()
    page.get_by_test_id("list").locator("tbody tr").first.wait_for()
    dashboard.shot("events")
    page.get_by_role("link", name="Overview").click()
    page.set_viewport_size({"width": 390, "height": 844})
    dashboard.shot("overview-phone")
    page.get_by_role("button", name="Menu").click()
    page.locator("nav.side.open").get_by_role("link", name="Deployments").click()
    page.get_by_test_id("list").locator("tr[data-name=busy]").wait_for()
    dashboard.shot("deployments-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_switch_namespace_and_live_list(dashboard: Dashboard, admin_token: str,
                                        kubectl: Kubectl) -> None:
    for ns in ("dash-a", "dash-b"):
        kubectl("create", "namespace", ns)
        kubectl("create", "configmap", f"cm-{ns}", "-n", ns, "--from-literal=k=v")
    dashboard.open(admin_token, "#/list/core/v1/configmaps")
    page = dashboard.page
    table = page.get_by_test_id("list")
    dashboard.namespace("dash-a")
    table.locator("tr[data-name=cm-dash-a]").wait_for()
    assert table.locator("tr[data-name=cm-dash-b]").count() == 0
    dashboard.namespace("dash-b")
    table.locator("tr[data-name=cm-dash-b]").wait_for()
    assert table.locator("tr[data-name=cm-dash-a]").count() == 0
    # A change made elsewhere shows up through the watch, without a reload.
    kubectl("create", "configmap", "arrived", "-n", "dash-b", "--from-literal=k=v")
    kubectl("label", "configmap", "arrived", "-n", "dash-b", "tier=web")
    table.locator("tr[data-name=arrived]").wait_for()
    page.get_by_label("Label selector").fill("tier=web")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_function("() => document.querySelector('[data-testid=list]')"
                           "?.getAttribute('data-count') === '1'")
    assert table.locator("tr[data-name=arrived]").count() == 1
    dashboard.namespace("")
    page.get_by_label("Label selector").fill("")
    page.get_by_role("button", name="Apply").click()
    table.locator("tr[data-name=cm-dash-a]").wait_for()
    table.locator("tr[data-name=cm-dash-b]").wait_for()
    dashboard.shot("configmaps-all-namespaces")


def test_scale_deployment_and_see_pods_follow(dashboard: Dashboard, admin_token: str,
                                              sim_node: str, kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-scale")
    kubectl("apply", "-n", "dash-scale", "-f", "-", input=deployment("web", 1))
    dashboard.open(admin_token, "#/object/apps/v1/deployments/dash-scale/web")
    page = dashboard.page
    pods = page.get_by_test_id("pods")
    pods.and_(page.locator("[data-count='1']")).wait_for()
    page.get_by_label("Replicas").fill("3")
    page.get_by_role("button", name="Scale").click()
    pods.and_(page.locator("[data-count='3']")).wait_for()
    page.get_by_test_id("replicas").filter(has_text="3 ready").wait_for()
    dashboard.shot("deployment-scaled")
    # The owned ReplicaSet links back to its owner.
    page.get_by_test_id("owned-replicasets").get_by_role("link").first.click()
    page.locator(".chip", has_text="Deployment/web").wait_for()
    dashboard.shot("replicaset")
    page.go_back()
    page.get_by_role("button", name="Restart").click()
    wait_until(lambda: "kubectl.kubernetes.io/restartedAt" in kubectl(
        "get", "deployment", "web", "-n", "dash-scale", "-o",
        "jsonpath={.spec.template.metadata.annotations}"), "the restart annotation")
    page.get_by_label("Replicas").fill("1")
    page.get_by_role("button", name="Scale").click()
    wait_until(lambda: kubectl("get", "deployment", "web", "-n", "dash-scale", "-o",
                               "jsonpath={.spec.replicas}") == "1", "scaled to 1")


def test_follow_pod_logs(dashboard: Dashboard, admin_token: str, kubectl: Kubectl,
                         stream_node: StreamNode) -> None:
    kubectl("create", "namespace", "dash-logs")
    stream_node.pod("dash-logs", "talker", ["app"])
    writer = stream_node.host.writer("dash-logs", "talker", "app", 0)
    writer.write(STDOUT, b"hello from the container\n")
    dashboard.open(admin_token, "#/object/core/v1/pods/dash-logs/talker/logs")
    log = dashboard.page.get_by_test_id("log")
    log.filter(has_text="hello from the container").wait_for()
    writer.write(STDOUT, b"a line written later\n")
    log.filter(has_text="a line written later").wait_for()
    dashboard.shot("pod-logs")


def test_exec_terminal(dashboard: Dashboard, admin_token: str, kubectl: Kubectl,
                       stream_node: StreamNode) -> None:
    kubectl("create", "namespace", "dash-exec")
    stream_node.pod("dash-exec", "shell", ["app"])
    dashboard.open(admin_token, "#/object/core/v1/pods/dash-exec/shell/exec")
    page = dashboard.page
    page.get_by_test_id("exec-state").filter(has_text="connected").wait_for()
    terminal = page.get_by_test_id("terminal")
    terminal.click()
    page.keyboard.type("echo typed-$((6*7))\n")
    terminal.locator(".xterm-rows", has_text="typed-42").wait_for()
    dashboard.shot("pod-exec")


def test_edit_configmap_yaml_with_inline_error(dashboard: Dashboard, admin_token: str,
                                               kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-edit")
    kubectl("create", "configmap", "settings", "-n", "dash-edit", "--from-literal=mode=old")
    dashboard.open(admin_token, "#/object/core/v1/configmaps/dash-edit/settings/yaml")
    page = dashboard.page
    editor = page.get_by_label("YAML")
    text = editor.input_value()
    assert "mode: old" in text
    dashboard.console.allow(422)
    editor.fill(text.replace("mode: old", "bad key!: new"))
    page.get_by_role("button", name="Save").click()
    error = page.get_by_test_id("yaml-error")
    error.filter(has_text=re.compile("valid config key", re.I)).wait_for()
    dashboard.shot("configmap-yaml-error")
    assert kubectl("get", "configmap", "settings", "-n", "dash-edit", "-o",
                   "jsonpath={.data}") == '{"mode":"old"}'
    editor.fill(text.replace("mode: old", "mode: new"))
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text="Saved settings").wait_for()
    assert error.count() == 0
    assert kubectl("get", "configmap", "settings", "-n", "dash-edit", "-o",
                   "jsonpath={.data.mode}") == "new"
    dashboard.shot("configmap-yaml-saved")


def test_apply_new_yaml_and_secret_hidden_until_asked(dashboard: Dashboard, admin_token: str,
                                                      kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-apply")
    dashboard.open(admin_token, "#/apply")
    dashboard.namespace("dash-apply")
    page = dashboard.page
    page.get_by_label("YAML").fill(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n"
        "  password: s3cret-value\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: applied\ndata:\n  a: b\n")
    dashboard.shot("apply")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.get_by_role("status").filter(has_text="Applied Secret/creds, ConfigMap/applied").wait_for()
    assert kubectl("get", "configmap", "applied", "-n", "dash-apply", "-o",
                   "jsonpath={.data.a}") == "b"
    dashboard.go("#/object/core/v1/secrets/dash-apply/creds")
    page.get_by_text("password").wait_for()
    assert "s3cret-value" not in page.content()
    dashboard.shot("secret-hidden")
    page.get_by_role("button", name="Show").click()
    page.get_by_test_id("secret-password").filter(has_text="s3cret-value").wait_for()


def test_crds_and_their_objects(dashboard: Dashboard, admin_token: str,
                                kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.dash.example.com"},
        "spec": {"group": "dash.example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                     "openAPIV3Schema": {"type": "object",
                                         "x-kubernetes-preserve-unknown-fields": True}}}]}}))
    kubectl("wait", "--for=condition=Established", "crd/widgets.dash.example.com")
    kubectl("create", "namespace", "dash-crd")
    kubectl("apply", "-n", "dash-crd", "-f", "-", input=json.dumps({
        "apiVersion": "dash.example.com/v1", "kind": "Widget", "metadata": {"name": "gizmo"}}))
    dashboard.open(admin_token, "#/list/apiextensions.k8s.io/v1/customresourcedefinitions")
    page = dashboard.page
    page.get_by_role("link", name="widgets.dash.example.com").click()
    page.get_by_role("link", name="Objects").click()
    dashboard.namespace("dash-crd")
    page.get_by_test_id("list").get_by_role("link", name="gizmo").click()
    page.get_by_text("Widget").first.wait_for()
    dashboard.shot("custom-object")


def test_delete_pod(dashboard: Dashboard, admin_token: str, sim_node: str,
                   kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-delete")
    kubectl("run", "doomed", "-n", "dash-delete", "--image=127.0.0.1:1/web:1")
    wait_until(lambda: kubectl("get", "pod", "doomed", "-n", "dash-delete", "-o",
                               "jsonpath={.status.phase}") == "Running", "the pod running")
    dashboard.open(admin_token, "#/object/core/v1/pods/dash-delete/doomed")
    page = dashboard.page
    page.get_by_test_id("containers").get_by_text("running").wait_for()
    page.get_by_role("link", name=sim_node).wait_for()
    page.get_by_role("button", name="Delete").click()
    dashboard.shot("pod-delete-confirm")
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_test_id("gone").wait_for()
    assert kubectl.run("get", "pod", "doomed", "-n", "dash-delete", check=False).returncode != 0


def test_viewer_cannot_edit(dashboard: Dashboard, viewer_token: str, sim_node: str,
                            kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "dash-view")
    kubectl("apply", "-n", "dash-view", "-f", "-", input=deployment("ro", 1))
    kubectl("create", "configmap", "ro", "-n", "dash-view", "--from-literal=k=v")
    dashboard.console.allow(403)
    dashboard.open(viewer_token, "#/object/apps/v1/deployments/dash-view/ro")
    page = dashboard.page
    page.get_by_label("Replicas").fill("5")
    page.get_by_role("button", name="Scale").click()
    refused = page.get_by_role("alert").filter(has_text="You don't have permission")
    refused.first.wait_for()
    dashboard.shot("viewer-scale-refused")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_role("alert").filter(has_text="cannot delete").first.wait_for()
    dashboard.go("#/object/core/v1/configmaps/dash-view/ro/yaml")
    editor = page.get_by_label("YAML")
    editor.fill(editor.input_value().replace("k: v", "k: changed"))
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("yaml-error").filter(has_text="You don't have permission").wait_for()
    dashboard.go("#/list/core/v1/secrets")
    page.get_by_role("alert").filter(has_text="You don't have permission").first.wait_for()
    dashboard.shot("viewer-secrets-refused")
    assert kubectl("get", "deployment", "ro", "-n", "dash-view", "-o",
                   "jsonpath={.spec.replicas}") == "1"
    assert kubectl("get", "configmap", "ro", "-n", "dash-view", "-o",
                   "jsonpath={.data.k}") == "v"
