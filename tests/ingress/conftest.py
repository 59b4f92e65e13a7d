"""The fixtures of a real nginx on loopback (tests/ingress/plane.py)."""

from tests.ingress.plane import backends, plane

__all__ = ["backends", "plane"]
