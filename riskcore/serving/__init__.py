"""Serving layer: one company's record, scoring frames and records, explanations, the audit trail.

Imports modelling, evaluation, data and the foundation; never workflows or a face (CLI, dashboard, API).
"""
