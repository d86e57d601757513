"""Metrics and logs: what operators watch (Prometheus) and read (text or JSON lines)."""
