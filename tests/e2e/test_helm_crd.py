"""`helm install` of a chart carrying a CRD (in the chart's `crds/` directory) and
resources of it: helm creates the CRD first, waits for it to be served, then applies the
templates, custom resources included; upgrade and uninstall work on them (the CRD itself
stays, as upstream helm leaves `crds/` alone after install)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cluster import Kubectl, Server
from tests.e2e.test_helm import _helm_binary

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client's use of the API, whatever the storage (conftest.py)

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer, default: 1}
"""

TEMPLATE = """\
{{- range $i, $e := until (int .Values.count) }}
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: {{ $.Release.Name }}-{{ $i }}
  labels: {app: {{ $.Release.Name }}}
spec:
  cronSpec: {{ $.Values.schedule | quote }}
  image: busybox
---
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  schedule: {{ .Values.schedule | quote }}
"""


def make_chart(root: Path) -> Path:
    chart = root / "crontabs"
    (chart / "crds").mkdir(parents=True)
    (chart / "templates").mkdir()
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: crontabs\nversion: 0.1.0\nappVersion: '1.0'\n")
    (chart / "values.yaml").write_text("count: 2\nschedule: '*/5 * * * *'\n")
    (chart / "crds" / "crontab.yaml").write_text(CRD)
    (chart / "templates" / "crontabs.yaml").write_text(TEMPLATE)
    return chart


def test_chart_with_crd(server: Server, kubectl: Kubectl, tmp_path: Path) -> None:
    helm = _helm_binary()
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig),
           "HELM_CACHE_HOME": str(tmp_path / "cache"),
           "HELM_CONFIG_HOME": str(tmp_path / "config"),
           "HELM_DATA_HOME": str(tmp_path / "data")}

    def run(*args: str) -> str:
        done = subprocess.run([helm, *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    chart = make_chart(tmp_path)
    kubectl("create", "namespace", "crontabs")
    run("install", "cron", str(chart), "-n", "crontabs", "--wait")
    crd = kubectl.json("get", "crd", "crontabs.stable.example.com")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    items = kubectl.json("get", "ct", "-n", "crontabs", "-l", "app=cron")["items"]
    assert [(i["metadata"]["name"], i["spec"]["replicas"]) for i in items] == [
        ("cron-0", 1), ("cron-1", 1)]
    assert items[0]["metadata"]["annotations"]["meta.helm.sh/release-name"] == "cron"

    run("upgrade", "cron", str(chart), "-n", "crontabs", "--set", "count=3",
        "--set", "schedule=@hourly")
    items = kubectl.json("get", "crontabs", "-n", "crontabs")["items"]
    assert sorted(i["metadata"]["name"] for i in items) == ["cron-0", "cron-1", "cron-2"]
    assert {i["spec"]["cronSpec"] for i in items} == {"@hourly"}
    run("upgrade", "cron", str(chart), "-n", "crontabs", "--set", "count=1")
    names = kubectl("get", "crontabs", "-n", "crontabs", "-o", "name").split()
    assert names == ["crontab.stable.example.com/cron-0"]

    run("uninstall", "cron", "-n", "crontabs", "--wait")
    assert kubectl("get", "crontabs", "-n", "crontabs", "-o", "name").strip() == ""
    assert kubectl("get", "configmap", "-n", "crontabs", "-o", "name").split() == [
        "configmap/kube-root-ca.crt"]
    kubectl("get", "crd", "crontabs.stable.example.com")  # helm keeps CRDs
