"""The Kubernetes version kybernetes implements: one place for what the API server's
`/version` reports and what every component puts in its User-Agent (upstream builds both
from `k8s.io/component-base/version`)."""

from __future__ import annotations

from kybernetes import __version__

# The Kubernetes release whose API and behaviour kybernetes follows.
KUBERNETES_VERSION = "v1.35.0"
# `/version`'s gitVersion, as k3s's `v1.35.0+k3s1`: the release, then this build.
GIT_VERSION = f"{KUBERNETES_VERSION}+kyb{__version__}"


def user_agent(program: str) -> str:
    """A component's User-Agent, `<program>/<version> (kybernetes)`: the API server records
    `<program>` as the field manager of its writes, as upstream does."""
    return f"{program}/{KUBERNETES_VERSION} (kybernetes)"
