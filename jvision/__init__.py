"""jvision: deep vision models in JAX/Flax, trained and evaluated end to end."""

__version__ = "0.1.0"
