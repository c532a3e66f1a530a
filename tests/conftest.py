"""Fixtures shared by every test folder."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run one test in double precision (for float64 references such as finite differences), then restore the
    previous setting."""
    with jax.enable_x64(True):
        yield
