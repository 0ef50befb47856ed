"""Records of a cut-off: shared fields first, one plain-data form."""

import dataclasses

import pytest

from riskcore.evaluation.costs import BusinessImpact, CostPoint
from riskcore.evaluation.metrics import ThresholdMetrics
from riskcore.evaluation.outcomes import CutoffCounts, PlainData


def test_cutoff_records_start_with_the_threshold_and_the_confusion_counts():
    for cls in (CostPoint, ThresholdMetrics):
        assert issubclass(cls, CutoffCounts)
        assert [f.name for f in dataclasses.fields(cls)][:5] == ["threshold", "tp", "fp", "tn", "fn"]


def test_field_order_of_the_records_is_unchanged():
    assert [f.name for f in dataclasses.fields(CostPoint)] == [
        "threshold", "tp", "fp", "tn", "fn", "cost", "referral_rate", "approval_rate", "missed_loss",
        "false_alarm_cost"]
    assert [f.name for f in dataclasses.fields(ThresholdMetrics)] == [
        "threshold", "tp", "fp", "tn", "fn", "precision", "recall", "f1", "specificity", "referral_rate",
        "approval_rate"]
    assert issubclass(BusinessImpact, PlainData)


def test_as_dict_is_the_fields_in_order_and_records_stay_frozen():
    point = CostPoint(0.5, 1, 2, 3, 4, 9.0, 0.3, 0.7, 5.0, 4.0)
    assert list(point.as_dict().items()) == [
        ("threshold", 0.5), ("tp", 1), ("fp", 2), ("tn", 3), ("fn", 4), ("cost", 9.0), ("referral_rate", 0.3),
        ("approval_rate", 0.7), ("missed_loss", 5.0), ("false_alarm_cost", 4.0)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.tp = 2  # type: ignore[misc]
    assert CutoffCounts(0.1, 1, 0, 0, 0).as_dict() == {"threshold": 0.1, "tp": 1, "fp": 0, "tn": 0, "fn": 0}
