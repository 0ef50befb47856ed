"""Modelling layer: panel features, candidate models, splits, leakage checks, calibration, training, bundles, tracking.

Imports evaluation, data and the foundation; never serving or workflows.
"""
