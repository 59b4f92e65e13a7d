"""An unmodified kopf operator (tests/e2e/kopf_memo_operator.py), started by the test as a
subprocess against `kyb server`, reconciles a custom resource: it creates a ConfigMap per
Memo, writes the Memo's status through the status subresource, carries an edit over,
posts Events, and on delete cleans up through its finalizer before the Memo goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import Kubectl, Server, stop_process, wait_until

pytestmark = pytest.mark.e2e
ANY_BACKEND = True  # a client library's use of the API, whatever the storage (conftest.py)

OPERATOR = Path(__file__).with_name("kopf_memo_operator.py")
FINALIZER = "kyb.example.com/memo-cleanup"
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: memos.kyb.example.com}
spec:
  group: kyb.example.com
  scope: Namespaced
  names: {plural: memos, singular: memo, kind: Memo}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [text]
            properties: {text: {type: string}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""


def memo(name: str, text: str) -> str:
    return ("apiVersion: kyb.example.com/v1\nkind: Memo\n"
            f"metadata: {{name: {name}}}\nspec: {{text: {text!r}}}\n")


@pytest.fixture(scope="module")
def operator(server: Server, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Path]:
    kubectl("apply", "-f", "-", input=CRD)
    kubectl("wait", "--for", "condition=established", "crd/memos.kyb.example.com",
            "--timeout=60s")
    log = tmp_path_factory.mktemp("kopf") / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
             "--verbose", str(OPERATOR)],
            env={**os.environ, "KUBECONFIG": str(server.kubeconfig)},
            stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        stop_process(process)
        errors = [line for line in log.read_text(errors="replace").splitlines()
                  if " ERROR " in line or "Traceback" in line]
        assert not errors, "\n".join(errors)


def get(kubectl: Kubectl, *args: str) -> Any:
    result = kubectl.run("get", *args, "-o", "json", check=False)
    return None if result.returncode else json.loads(result.stdout)


def test_operator_reconciles_memos(kubectl: Kubectl, ns: str, operator: Path) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=memo("hello", "first"))
    cm = wait_until(lambda: get(kubectl, "configmap", "memo-hello", "-n", ns),
                    "the operator's ConfigMap")
    assert cm["data"] == {"text": "first"}
    status = wait_until(lambda: (get(kubectl, "memo", "hello", "-n", ns) or {})
                        .get("status", {}).get("phase") and
                        get(kubectl, "memo", "hello", "-n", ns)["status"], "the Memo's status")
    assert status["phase"] == "Ready"
    assert status["configMap"] == "memo-hello"
    obj = get(kubectl, "memo", "hello", "-n", ns)
    assert FINALIZER in obj["metadata"]["finalizers"]
    # kopf keeps its handler progress and last-handled state in annotations.
    assert "kopf.zalando.org/last-handled-configuration" in obj["metadata"]["annotations"]

    kubectl("patch", "memo", "hello", "-n", ns, "--type=merge", "-p",
            '{"spec": {"text": "second"}}')
    wait_until(lambda: (get(kubectl, "configmap", "memo-hello", "-n", ns) or {})
               .get("data") == {"text": "second"}, "the ConfigMap to follow the edit")
    wait_until(lambda: get(kubectl, "memo", "hello", "-n", ns)["status"]
               .get("revision") == "updated", "the update handler's status")
    events = wait_until(lambda: get(kubectl, "events", "-n", ns,
                                    "--field-selector", "involvedObject.name=hello")["items"]
                        or None, "kopf's events about the Memo")
    assert [(e["reason"], e["message"], e["source"]["component"]) for e in events] == [
        ("ConfigMapCreated", "created ConfigMap memo-hello", "kopf")]

    kubectl("delete", "memo", "hello", "-n", ns, "--wait=true", "--timeout=60s")
    assert get(kubectl, "configmap", "memo-hello", "-n", ns) is None
    assert get(kubectl, "memo", "hello", "-n", ns) is None


def test_each_memo_has_its_own_config_map(kubectl: Kubectl, ns: str, operator: Path) -> None:
    for name in ("a", "b", "c"):
        kubectl("apply", "-n", ns, "-f", "-", input=memo(name, f"text {name}"))
    wait_until(lambda: len(kubectl("get", "configmaps", "-n", ns, "-l", "memo",
                                   "-o", "name").split()) == 3 or None, "three ConfigMaps")
    kubectl("delete", "memos", "--all", "-n", ns, "--wait=true", "--timeout=60s")
    assert kubectl("get", "configmaps", "-n", ns, "-l", "memo", "-o", "name").strip() == ""
