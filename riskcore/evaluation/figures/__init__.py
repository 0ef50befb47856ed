"""The figure data of the evaluation pages, the comparison, monitoring and the model report: computed once.

The dashboard draws these objects with plotly and the model report with
matplotlib; neither computes a curve. Each is a frozen dataclass of read-only
arrays whose ``frame()`` returns documented columns (as scikit-learn's
``calibration_curve`` sits apart from ``CalibrationDisplay``, and skore's
displays offer ``frame()``):

- :class:`CurveBand`: a ROC or precision-recall curve on a fixed grid with its bootstrap band;
- :class:`RocCurve`: scikit-learn's exact ROC curve, thinned to its corners, with the cut-offs;
- :class:`GainsCurve`: the gains (lift) table by risk decile, drawn as lift bars and as the gains curve;
- :class:`KsCurve`: the two score distributions and their gap, with the KS statistic's cut-off;
- :class:`ReliabilityCurve`: observed default rate against mean predicted PD per bin;
- :class:`CostCurve`: the expected cost of every cut-off and the cheapest one; :class:`OperatingPoint` a model
  at its own cut-off, and :class:`ModelCurves` one side of a champion-challenger comparison;
- :class:`DriftHeatmap`: feature × period PSI of a monitoring history, each cell with its band.

The modules behind this one are private; this package's ``__all__`` is the interface.
"""

from __future__ import annotations

from riskcore.evaluation.figures._base import Labelled, stack, unstack
from riskcore.evaluation.figures._costs import CostCurve, ModelCurves, OperatingPoint, comparison_curves
from riskcore.evaluation.figures._curves import (
    CurveBand,
    GainsCurve,
    KsCurve,
    RocCurve,
    curve_bands,
    gains_curves,
    ks_curves,
)
from riskcore.evaluation.figures._drift import DRIFT_BANDS, DriftHeatmap, psi_bands
from riskcore.evaluation.figures._reliability import ReliabilityCurve, reliability_curves

__all__ = [
    "DRIFT_BANDS",
    "CostCurve",
    "CurveBand",
    "DriftHeatmap",
    "GainsCurve",
    "KsCurve",
    "Labelled",
    "ModelCurves",
    "OperatingPoint",
    "ReliabilityCurve",
    "RocCurve",
    "comparison_curves",
    "curve_bands",
    "gains_curves",
    "ks_curves",
    "psi_bands",
    "reliability_curves",
    "stack",
    "unstack",
]
