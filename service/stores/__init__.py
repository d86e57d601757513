"""Storage adapters: the relational store (SQL) and the graph store (SQL or Neo4j)."""
