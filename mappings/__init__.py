"""Declarative mappings from each source's vocabulary to the canonical model, and their engine."""
