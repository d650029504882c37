"""Avengers-Pro: cost-aware LLM routing by embedding, clustering and a performance-efficiency score."""

__version__ = "0.1.0"
