"""Typed domain objects shared by every layer (no I/O here)."""
