"""Shared fixtures; the records they build come from tests/builders.py."""

from __future__ import annotations

import pytest
from builders import make_profile

from advisor.model.profile import Profile


@pytest.fixture
def profile() -> Profile:
    return make_profile()


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty user data directory for the test."""
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
