"""Vault Lab's instructor side: nbgrader's pipeline, confined, parallel and hard to fool.

`python -m autograde --help` lists the commands. Nothing here runs on import.
"""
from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
