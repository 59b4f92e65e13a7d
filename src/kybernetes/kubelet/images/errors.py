"""The errors image handling raises, each carrying the reason the kubelet reports.

The kubelet puts `reason` into the container's `state.waiting.reason` and the event, and
`str(error)` into the message, as upstream's image manager does (`ErrImagePull`,
`ErrImageNeverPull`, `InvalidImageName`); after a failed pull it backs off and reports
`ImagePullBackOff` itself. Pull failures read like containerd's (`failed to pull and unpack
image "<ref>": failed to resolve reference "<ref>": <ref>: not found`), so the kubelet's
`Failed to pull image "<image>": <message>` wraps them as it wraps the CRI's answer.
"""

from __future__ import annotations

from typing import ClassVar


class ImageError(Exception):
    """Base of the image errors; `reason` is the kubelet's word for it."""

    reason: ClassVar[str] = "ErrImagePull"


class InvalidImageNameError(ImageError):
    reason = "InvalidImageName"

    def __init__(self, image: str, detail: str) -> None:
        # Upstream: "Failed to apply default image tag %q: couldn't parse image name %q: %v".
        super().__init__(f'Failed to apply default image tag "{image}": couldn\'t parse '
                         f'image name "{image}": {detail}')
        self.image = image
        self.detail = detail


class ImagePullError(ImageError):
    """A pull failed: the registry said no, was unreachable, or sent bad content."""

    reason = "ErrImagePull"


class ImageNeverPullError(ImageError):
    reason = "ErrImageNeverPull"

    def __init__(self, image: str) -> None:
        super().__init__(f'Container image "{image}" is not present with pull policy of Never')
        self.image = image


class ImageNotFoundError(ImageError):
    """No image in the store answers to the reference or id (for `remove`)."""

    reason = "ImageNotFound"


class ImageContentError(ImageError):
    """An archive or layer is malformed or unsafe (digest mismatch, path escaping the
    layer, a member written through a symlink)."""

    reason = "ErrImagePull"
