"""A kopf operator for `test_kopf.py`, run with `kopf run` against `kyb server`: each Memo
(memos.kyb.example.com) gets a ConfigMap holding its text; the Memo's status records the
ConfigMap and a phase, and an Event says so; an edit of the text is carried over; deleting
a Memo deletes its ConfigMap first, through kopf's finalizer. ConfigMaps are written with
the official `kubernetes` client, as an operator author would."""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

GROUP, VERSION, PLURAL = "kyb.example.com", "v1", "memos"


def _core() -> Any:
    kubernetes.config.load_kube_config()
    return kubernetes.client.CoreV1Api()


def _config_map(name: str, text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"memo-{name}", "labels": {"memo": name}},
            "data": {"text": text}}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = "kyb.example.com/memo-cleanup"


@kopf.on.create(GROUP, VERSION, PLURAL)
def create(body: kopf.Body, spec: Any, name: str, namespace: str, patch: kopf.Patch,
           **_: Any) -> None:
    _core().create_namespaced_config_map(namespace, _config_map(name, spec["text"]))
    kopf.info(body, reason="ConfigMapCreated", message=f"created ConfigMap memo-{name}")
    patch.status["configMap"] = f"memo-{name}"
    patch.status["phase"] = "Ready"


@kopf.on.update(GROUP, VERSION, PLURAL, field="spec.text")
def update(new: Any, name: str, namespace: str, patch: kopf.Patch, **_: Any) -> None:
    _core().patch_namespaced_config_map(f"memo-{name}", namespace, {"data": {"text": new}})
    patch.status["revision"] = "updated"


@kopf.on.delete(GROUP, VERSION, PLURAL)
def delete(name: str, namespace: str, **_: Any) -> None:
    try:
        _core().delete_namespaced_config_map(f"memo-{name}", namespace)
    except kubernetes.client.ApiException as error:
        if error.status != 404:
            raise
