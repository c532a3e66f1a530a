"""Shared fixtures for the log-determinant tests."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run one test in double precision, then restore the default."""
    with jax.enable_x64(True):
        yield
