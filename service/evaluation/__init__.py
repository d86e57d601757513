"""Offline evaluation on HippoRAG-format datasets (``hippograph eval``).

``datasets`` reads the questions and corpus, ``metrics`` holds the pure scoring functions, and
``harness`` ingests the corpus and runs every question through the service's own ``ingest`` and
``query`` use cases.
"""
