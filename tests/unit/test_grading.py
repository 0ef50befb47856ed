"""The rating master scale: contiguous, documented, graded after the PD floor."""

from __future__ import annotations

import re

import numpy as np
import pytest

import riskcore.evaluation.grading as grading
from riskcore.evaluation.grading import MASTER_SCALE, PD_FLOOR, RISK_LEVELS, grade_of, master_scale_frame, risk_level_of


def test_the_scale_covers_every_pd_without_gaps_or_overlaps():
    assert MASTER_SCALE[0].lower == 0.0
    assert MASTER_SCALE[-1].upper > 1.0
    for prev, nxt in zip(MASTER_SCALE, MASTER_SCALE[1:]):
        assert prev.upper == nxt.lower
        assert prev.lower < prev.upper
    assert [g.name for g in MASTER_SCALE] == [str(i) for i in range(1, 11)]


def test_bounds_roughly_double_from_grade_to_grade():
    uppers = [g.upper for g in MASTER_SCALE[:-1]]
    ratios = np.diff(np.log(uppers))
    assert (np.exp(ratios) >= 1.5).all() and (np.exp(ratios) <= 3.0).all()


def test_levels_are_grouped_and_ordered():
    levels = [g.level for g in MASTER_SCALE]
    assert levels == sorted(levels, key=RISK_LEVELS.index)
    assert set(levels) == set(RISK_LEVELS)


def test_docstring_table_matches_the_scale():
    rows = re.findall(r"^(Low|Medium|High|Critical)\s+(\d+)–(\d+)\s", grading.__doc__ or "", flags=re.M)
    assert [r[0] for r in rows] == list(RISK_LEVELS)
    for level, first, last in rows:
        assert {g.name for g in MASTER_SCALE if g.level == level} == {str(i) for i in range(int(first),
                                                                                             int(last) + 1)}


@pytest.mark.parametrize("grade", MASTER_SCALE, ids=lambda g: f"grade-{g.name}")
def test_lower_bound_is_in_the_grade_and_upper_bound_in_the_next(grade):
    if grade.lower >= PD_FLOOR:
        assert grade_of(np.array([grade.lower]))[0] == grade.name
    inside = (max(grade.lower, PD_FLOOR) + min(grade.upper, 1.0)) / 2
    assert grade_of(np.array([inside]))[0] == grade.name
    assert risk_level_of(np.array([inside]))[0] == grade.level
    if grade.upper <= 1.0:
        assert grade_of(np.array([grade.upper]))[0] != grade.name


def test_the_floor_puts_every_tiny_pd_in_grade_1_and_one_in_grade_10():
    assert grade_of(np.array([0.0, 1e-9, PD_FLOOR]))[0] == "1"
    assert list(grade_of(np.array([0.0, 1e-9, PD_FLOOR]))) == ["1", "1", "1"]
    assert grade_of(np.array([1.0]))[0] == "10"


def test_grades_never_improve_as_pd_rises():
    p = np.linspace(0, 1, 10_001)
    index = np.array([int(g) for g in grade_of(p)])
    assert (np.diff(index) >= 0).all()
    assert set(index) == set(range(1, 11))


def test_a_missing_pd_is_refused_not_graded():
    with pytest.raises(ValueError, match="missing"):
        grade_of(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="missing"):
        risk_level_of(np.array([np.nan]))


@pytest.mark.parametrize("p,level", [(0.0, "Low"), (0.2499, "Low"), (0.25, "Medium"), (0.5, "High"),
                                     (0.7499, "High"), (0.75, "Critical"), (1.0, "Critical")])
def test_fixed_bands(p, level):
    assert risk_level_of(np.array([p]), "fixed")[0] == level


def test_master_scale_frame_documents_the_scale():
    frame = master_scale_frame()
    assert list(frame.columns) == ["grade", "pd_from", "pd_to", "agency_equivalent", "risk_level"]
    assert frame["pd_from"].iloc[0] == PD_FLOOR
    assert frame["pd_to"].iloc[-1] == 1.0
    assert (frame["pd_from"].iloc[1:].to_numpy() == frame["pd_to"].iloc[:-1].to_numpy()).all()
    assert frame["agency_equivalent"].str.len().min() > 0
