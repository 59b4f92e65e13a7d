"""imagePullPolicy: upstream's defaulting and the decision whether to pull.

Defaulting (pkg/apis/core/v1/defaults.go): `Always` when the image's tag is `latest`, which
it is when the image names neither tag nor digest; `IfNotPresent` otherwise (a pinned tag
or digest). An image that cannot be parsed defaults to `IfNotPresent`, as upstream ignores
the parse error there and validation reports it later.
"""

from __future__ import annotations

from kybernetes.kubelet.images.errors import InvalidImageNameError
from kybernetes.kubelet.images.reference import parse_reference

ALWAYS = "Always"
IF_NOT_PRESENT = "IfNotPresent"
NEVER = "Never"
PULL_POLICIES = (ALWAYS, IF_NOT_PRESENT, NEVER)


def default_pull_policy(image: str) -> str:
    """The imagePullPolicy a container gets when it names none."""
    try:
        reference = parse_reference(image)
    except InvalidImageNameError:
        return IF_NOT_PRESENT
    return ALWAYS if reference.tag == "latest" else IF_NOT_PRESENT


def should_pull(policy: str, present: bool) -> bool:
    """Upstream's shouldPullImage: Never never pulls, IfNotPresent only when absent."""
    if policy not in PULL_POLICIES:
        raise ValueError(f"unknown imagePullPolicy {policy!r}")
    if policy == NEVER:
        return False
    return policy == ALWAYS or not present
