"""A data contract for a user's own file: which columns are features, of which kind.

:func:`infer_spec` reads each column as a person would (numbers, money,
percentages, dates, categories, free text) and declares the features of a
:class:`~riskcore.data.schema.DatasetSpec`, explaining every conversion and every
column left out; :func:`extend_spec` adds the columns a known layout does not
declare, so data the model may use is never silently ignored.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from riskcore.data.columns import normalise_name
from riskcore.data.parsing import classify_column, observation_dates, parse_dates
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.errors import DataFileError, MissingColumnError, Problem, SchemaError

__all__ = ["extend_spec", "infer_spec"]


_MAX_CATEGORIES = 50
# more levels than this cannot be a feature (histogram boosting bins at most 255 categories)
_MAX_LEVELS = 250
_POST_EVENT_SHARE = 0.5


def infer_spec(
    frame: pd.DataFrame,
    *,
    target: str | None,
    id: str | None = None,
    time: str | None = None,
    segment: str | None = None,
    exposure: str | None = None,
    positive: str | None = None,
    drop: tuple[str, ...] | list[str] = (),
    name: str = "user_data",
    decimal: str = ".",
    year_end_month: int = 12,
) -> DatasetSpec:
    """Infer a :class:`DatasetSpec` from a frame and the names of its role columns.

    Each column is read as a person would (:func:`riskcore.data.parsing.classify_column`):

    * numbers, money (``$60,000.00``) and percentages (``12%`` → 0.12) whose present
      cells are at least 90% readable become numeric features (the other cells are
      reported by the quality check);
    * dates are never raw features: a date column becomes its age in years at the
      row's observation date (``from_date``), or — when most of its dates fall after
      that date — a post-event column (``post_event``), known only after the outcome;
      without a time column there is no observation date and it is left out (``never``);
    * text becomes a categorical feature, unless it has more than 250 levels, or more
      than 50 that are almost all unique (free text, identifiers): it is then left out
      (``never``) and still tested by the leakage check.

    Every conversion and every column left out is explained in ``spec.notes``.

    Parameters
    ----------
    frame : the user's data, as read.
    target, id, time, segment, exposure : role column names (all optional; without a
        target the spec serves data-quality checks only).
    positive : the target label meaning "defaulted" when the target is not 0/1.
    drop : columns to leave out of the features.
    decimal : the decimal mark of text cells (``","`` for decimal commas).
    year_end_month : the month the fiscal year ends (12: calendar years).

    Returns
    -------
    DatasetSpec

    Raises
    ------
    MissingColumnError
        When a named role column is not in the frame.
    """
    columns = list(frame.columns)
    _check_roles(columns, target=target, id=id, time=time, segment=segment, exposure=exposure, drop=drop)
    roles = {c for c in (target, id, time, exposure) if c}
    found = _Inferred()
    observed = observation_dates(frame[time], decimal=decimal, year_end_month=year_end_month) if time else None
    for col in columns:
        if col not in roles and col not in drop:
            found.column(col, frame[col], decimal, observed)
    if not found.features:
        role_of = {c: r for r, c in (("target", target), ("id", id), ("time", time), ("exposure", exposure)) if c}
        raise _no_features(columns, role_of, drop, found.post_event)
    return DatasetSpec(
        name=name,
        target=target or "",
        id=id,
        time=time,
        segment=segment,
        exposure=exposure,
        positive=positive,
        features=tuple(found.features),
        never=tuple(found.never),
        post_event=tuple(found.post_event),
        year_end_month=year_end_month,
        notes=tuple(found.notes),
    )


def _check_roles(columns: list[str], *, drop: tuple[str, ...] | list[str], **roles: str | None) -> None:
    """Refuse role columns and dropped columns that are not in the file, naming the columns it has."""
    problems = [f"the {role} column {col!r} is not in the file" for role, col in roles.items()
                if col is not None and col not in columns]
    if problems:
        raise MissingColumnError(
            [c for c in roles.values() if c is not None and c not in columns],
            "; ".join(problems) + f". Columns found: {', '.join(map(repr, columns[:30]))}"
            + (" …" if len(columns) > 30 else "") + ". Name the right column with the matching option."
        )
    missing_drop = [c for c in drop if c not in columns]
    if missing_drop:
        raise DataFileError(f"cannot drop {missing_drop!r}: not in the file.")


class _Inferred:
    """The features, left-out and post-event columns found so far, and a note for each decision."""

    def __init__(self) -> None:
        self.features: list[FeatureSpec] = []
        self.never: list[str] = []
        self.post_event: list[str] = []
        self.notes: list[str] = []

    def column(self, col: str, s: pd.Series, decimal: str, observed: np.ndarray | None) -> None:
        """Decide what one column is: a numeric or categorical feature, a date's age, or left out."""
        if pd.api.types.is_bool_dtype(s):
            self.features.append(FeatureSpec(col, "numeric", "other", integer=True, min=0, max=1))
            return
        fmt = classify_column(s, decimal)
        if fmt.kind in ("number", "money", "percent"):
            if fmt.note:
                self.notes.append(fmt.note)
            self.features.append(FeatureSpec(col, "numeric", "other", integer=fmt.integer and fmt.kind != "percent",
                                             unit="%" if fmt.kind == "percent" else "",
                                             description=f"{fmt.kind} (written as {fmt.example!r})"
                                             if fmt.example else ""))
        elif fmt.kind == "empty":
            self.never.append(col)
            self.notes.append(f"{col!r} has no values and was left out")
        elif fmt.kind == "date":
            self._date(col, s, fmt.note, observed)
        else:
            self._text(col, s)

    def _date(self, col: str, s: pd.Series, note: str, observed: np.ndarray | None) -> None:
        """A date column: its age at the observation date, or post-event when most dates fall after it."""
        dates = parse_dates(s)[0]
        if observed is None:
            self.never.append(col)
            self.notes.append(f"{note}; left out: without a time column (--time) there is no observation date "
                              "to measure their age from")
            return
        both = ~np.isnat(dates) & ~np.isnat(observed)
        after = float((dates[both] > observed[both]).mean()) if both.any() else 0.0
        if after > _POST_EVENT_SHARE:
            self.post_event.append(col)
            self.notes.append(f"{note}; {after:.0%} of them fall after the row's observation date, so the column "
                              "is recorded after the outcome: never a feature (the leakage check tests it)")
            return
        self.features.append(FeatureSpec(col, "numeric", "other", unit="years", from_date=True,
                                         description=f"age in years of {col!r} at the row's observation date"))
        self.notes.append(f"{note}; the feature is their age in years at the row's observation date")

    def _text(self, col: str, s: pd.Series) -> None:
        """A text column: a categorical feature, unless it has too many levels to be one."""
        text = s.dropna().astype(str).str.strip()
        text = text[text != ""]
        n_unique = text.nunique()
        if n_unique > _MAX_LEVELS or (n_unique > _MAX_CATEGORIES and n_unique > 0.5 * max(len(text), 1)):
            self.never.append(col)
            self.notes.append(f"{col!r} has {n_unique:,} distinct text values, too many for a feature; it was left "
                              "out (the leakage check still tests it)")
            return
        cats = tuple(sorted(text.unique().tolist()))
        self.features.append(FeatureSpec(col, "categorical", "other", categories=cats))


def _no_features(columns: list[str], role_of: dict[str, str], drop: tuple[str, ...] | list[str],
                 post_event: list[str]) -> SchemaError:
    """The error for a file without a usable feature: why each column is not one."""
    why = []
    for col in columns:
        if col in role_of:
            why.append(f"{col!r} is the {role_of[col]} column")
        elif col in drop:
            why.append(f"{col!r} was dropped (--drop)")
        elif col in post_event:
            why.append(f"{col!r} holds dates after the outcome")
        else:
            why.append(f"{col!r} is empty, a date without a time column, or free text with too many values")
    return SchemaError(Problem(None, columns[0] if columns else None, None,
                               "no usable feature columns: " + "; ".join(why[:12])
                               + (f" (+{len(why) - 12} more)" if len(why) > 12 else "")
                               + ". Add numeric or categorical columns, or name the roles differently"))


def extend_spec(spec: DatasetSpec, frame: pd.DataFrame, *, decimal: str = ".") -> DatasetSpec:
    """Add the frame's columns that the spec does not know as inferred features.

    A column a user added to a known layout is data the model may use, so it is
    declared (and checked for leakage) rather than silently ignored; one that cannot
    be a feature (free text, a contact's e-mail address, an empty column) is left out
    with a note, as :func:`infer_spec` leaves it out, and the layout's own features remain.
    """
    known = {normalise_name(c) for c in (*spec.role_columns, *spec.feature_names, *spec.engineered_names,
                                         spec.segment or "")}
    extra = [c for c in frame.columns if normalise_name(c) not in known]
    if not extra:
        return spec
    found = _Inferred()
    for col in extra:
        found.column(col, frame[col], decimal, None)
    return replace(spec, features=spec.features + tuple(found.features), never=spec.never + tuple(found.never),
                   post_event=spec.post_event + tuple(found.post_event), notes=spec.notes + tuple(found.notes))
