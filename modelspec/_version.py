"""The modelspec version: one place, imported by whatever records it."""

__version__ = "0.1.0"
