"""Modelling layer: panel features, candidate models and their search, splits, leakage checks, calibration, training.

``train`` runs the stages of ``stages`` (data to calibrated model), ``assessment``
(test metrics), ``importance`` and ``publish`` (bundle and MLflow); ``signal`` and
``shift`` hold the evidence behind the leakage checks; ``bundle`` and ``tracking``
store what a run produced. Imports evaluation, data and the foundation; never serving or workflows.
"""
