"""revstream: run and audit the business around open-weight language models."""

__version__ = "0.1.0"
