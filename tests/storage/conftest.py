"""Backends the storage contract suite runs against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kybernetes.storage.interface import Storage
from kybernetes.storage.sqlite import SQLiteStorage


@pytest.fixture(params=["sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend: Storage = SQLiteStorage(tmp_path / "state.db")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()
