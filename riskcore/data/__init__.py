"""Data layer: reading and writing tables, parsing messy cells, the dataset schema, data quality, the demo portfolio.

Imports only the foundation (``riskcore.errors``, ``riskcore.config``, ``riskcore.progress``, ``riskcore.arrays``).
"""
