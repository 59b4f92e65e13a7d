"""The kubelet's OCI image store: pull, import, list, remove and garbage-collect images.

    store = ImageStore(data_dir / "images")
    record = await store.ensure("busybox", default_pull_policy("busybox"),
                                credentials=credentials_from_docker_config(secret_json))
    record.layer_dirs   # unpacked layers, lowest first, for an overlayfs mount
    record.config       # Env, Entrypoint, Cmd, WorkingDir, User, ExposedPorts

Modules, one concern each: `reference` (Docker's name normalisation), `policy`
(imagePullPolicy defaulting and decision), `credentials` (imagePullSecrets),
`manifest` (OCI/Docker manifests and platform choice), `blobs` (content-addressed,
verified), `unpack` (safe, overlayfs-ready layer extraction), `archive` (docker-save and
OCI-layout archives), `registry` (the distribution API with token auth), `gc` (the
disk-threshold policy), `store` (the index tying them together), `errors` (with the
kubelet's reasons: ErrImagePull, ErrImageNeverPull, InvalidImageName).
"""

from kybernetes.kubelet.images.credentials import (
    RegistryCredential,
    credentials_from_docker_config,
)
from kybernetes.kubelet.images.errors import (
    ImageContentError,
    ImageError,
    ImageNeverPullError,
    ImageNotFoundError,
    ImagePullError,
    InvalidImageNameError,
)
from kybernetes.kubelet.images.gc import (
    DEFAULT_HIGH_THRESHOLD_PERCENT,
    DEFAULT_LOW_THRESHOLD_PERCENT,
    DEFAULT_MINIMUM_AGE,
)
from kybernetes.kubelet.images.policy import (
    ALWAYS,
    IF_NOT_PRESENT,
    NEVER,
    default_pull_policy,
)
from kybernetes.kubelet.images.reference import Reference, parse_reference
from kybernetes.kubelet.images.store import ImageRecord, ImageStore

__all__ = [
    "ALWAYS",
    "DEFAULT_HIGH_THRESHOLD_PERCENT",
    "DEFAULT_LOW_THRESHOLD_PERCENT",
    "DEFAULT_MINIMUM_AGE",
    "IF_NOT_PRESENT",
    "NEVER",
    "ImageContentError",
    "ImageError",
    "ImageNeverPullError",
    "ImageNotFoundError",
    "ImagePullError",
    "ImageRecord",
    "ImageStore",
    "InvalidImageNameError",
    "Reference",
    "RegistryCredential",
    "credentials_from_docker_config",
    "default_pull_policy",
    "parse_reference",
]
