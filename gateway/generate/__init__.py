"""Synthetic, reproducible data: a population and provincial lists with planted defects."""
