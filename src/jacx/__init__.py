"""jacx: Jacobians for Python, built on JAX."""
