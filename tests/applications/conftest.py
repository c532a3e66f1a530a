"""Shared fixtures for the application tests."""

import jax
import pytest


@pytest.fixture
def x64():
    """Run one test in double precision (for finite-difference references), then restore the default."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
