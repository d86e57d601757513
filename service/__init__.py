"""Hippograph: a long-term memory service built on HippoRAG-style graph retrieval."""

__version__ = "0.1.0"
