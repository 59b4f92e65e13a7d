"""The admin fuzz pass over the other half of the operations (test_fuzz.py has the first),
on a server of its own, so that the two halves run side by side."""

from __future__ import annotations

import pytest

from tests.e2e.cluster import Server
from tests.e2e.test_fuzz import apiserver, check_admin_pass

pytestmark = pytest.mark.e2e

__all__ = ["apiserver"]  # the fixture: a fuzzed `kyb apiserver` of this module's own


def test_fuzzing_the_other_half_as_admin_finds_no_server_error(apiserver: Server) -> None:
    check_admin_pass(apiserver, (1, 2))
