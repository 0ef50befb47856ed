"""Evaluation layer: discrimination and calibration metrics, the cost model, the rating scale, report numbers.

Imports the data layer and the foundation; never a model, a bundle or a scorer.
"""
