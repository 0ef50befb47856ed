"""A data contract for a user's own file: which columns are features, of which kind.

:func:`infer_spec` reads each column as a person would (numbers, money,
percentages, dates, categories, free text, identifiers) and declares the features of a
:class:`~riskcore.data.schema.DatasetSpec`, explaining every conversion and every
column left out; :func:`extend_spec` adds the columns a known layout does not
declare, so data the model may use is never silently ignored, and an identifier is
never silently used.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from riskcore.data.columns import normalise_name
from riskcore.data.identifiers import identifier_reason, period_order
from riskcore.data.parsing import classify_column, observation_dates, parse_dates, parse_numbers
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
    features: tuple[str, ...] | list[str] = (),
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
      (``never``) and still tested by the leakage check;
    * a numeric column that looks like an identifier — whole numbers unique per row and
      spread evenly over their range, or values that rise (or fall) with the time column
      (:func:`riskcore.data.identifiers.identifier_reason`) — is left out (``never``) and
      still tested by the leakage check, unless it is named in ``features``.

    Every conversion and every column left out is explained in ``spec.notes``.

    Parameters
    ----------
    frame : the user's data, as read.
    target, id, time, segment, exposure : role column names (all optional; without a
        target the spec serves data-quality checks only).
    positive : the target label meaning "defaulted" when the target is not 0/1.
    drop : columns to leave out of the features.
    features : columns to use as features even when they look like identifiers (``--feature``).
    decimal : the decimal mark of text cells (``","`` for decimal commas).
    year_end_month : the month the fiscal year ends (12: calendar years).

    Returns
    -------
    DatasetSpec

    Raises
    ------
    MissingColumnError
        When a named role column is not in the frame.
    DataFileError
        When a column named in ``drop`` or ``features`` is not in the frame, is named in both, a column
        named in ``features`` has another role, or cannot be a feature (the message says why).
    """
    columns = list(frame.columns)
    _check_roles(columns, target=target, id=id, time=time, segment=segment, exposure=exposure, drop=drop)
    role_of = {c: r for r, c in (("target", target), ("id", id), ("time", time), ("exposure", exposure)) if c}
    _check_named(columns, features, drop, {c: f"the {r} column" for c, r in role_of.items()})
    observed = observation_dates(frame[time], decimal=decimal, year_end_month=year_end_month) if time else None
    found = _Inferred(decimal, observed, period_order(frame[time], decimal) if time else None, time, features)
    for col in columns:
        if col not in role_of and col not in drop:
            found.column(col, frame[col])
    found.check_named()
    if not found.features:
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


def _check_named(columns: list[str], features: tuple[str, ...] | list[str], drop: tuple[str, ...] | list[str],
                 role_of: dict[str, str]) -> None:
    """Refuse columns named as features (``--feature``) that are not in the file, dropped too, or have a role."""
    missing = [c for c in features if c not in columns]
    if missing:
        raise DataFileError(f"cannot use {missing!r} as features (--feature): not in the file. Columns found: "
                            f"{', '.join(map(repr, columns[:30]))}" + (" …" if len(columns) > 30 else ""))
    both = [c for c in features if c in drop]
    if both:
        raise DataFileError(f"{both!r} are named both as features (--feature) and as columns to leave out "
                            "(--drop); name each in one of the two")
    roles = [f"{c!r} is {role_of[c]}" for c in features if c in role_of]
    if roles:
        raise DataFileError("a column with a role cannot also be a feature (--feature): " + "; ".join(roles))


class _Inferred:
    """The features, left-out and post-event columns found so far, and a note for each decision.

    ``observed`` is each row's observation date (for the ages of dates), ``periods`` each row's period (for
    columns that rise with time), ``time`` the time column's name; ``named`` the columns the user named as
    features, which an identifier-like look does not leave out.
    """

    def __init__(self, decimal: str, observed: np.ndarray | None, periods: np.ndarray | None, time: str | None,
                 named: tuple[str, ...] | list[str]) -> None:
        self.decimal, self.observed, self.periods, self.time = decimal, observed, periods, time
        self.named = tuple(named)
        self.features: list[FeatureSpec] = []
        self.never: list[str] = []
        self.post_event: list[str] = []
        self.notes: list[str] = []
        self.why_not: dict[str, str] = {}

    def _leave_out(self, col: str, why: str, *, post_event: bool = False) -> None:
        (self.post_event if post_event else self.never).append(col)
        self.why_not[col] = why

    def column(self, col: str, s: pd.Series) -> None:
        """Decide what one column is: a numeric or categorical feature, a date's age, or left out."""
        if pd.api.types.is_bool_dtype(s):
            self.features.append(FeatureSpec(col, "numeric", "other", integer=True, min=0, max=1))
            return
        fmt = classify_column(s, self.decimal)
        if fmt.kind in ("number", "money", "percent"):
            if fmt.note:
                self.notes.append(fmt.note)
            if fmt.kind != "percent" and self._identifier(col, s, fmt.integer, fmt.kind == "money"):
                return
            self.features.append(FeatureSpec(col, "numeric", "other", integer=fmt.integer and fmt.kind != "percent",
                                             unit="%" if fmt.kind == "percent" else "",
                                             description=f"{fmt.kind} (written as {fmt.example!r})"
                                             if fmt.example else ""))
        elif fmt.kind == "empty":
            self._leave_out(col, "it has no values")
            self.notes.append(f"{col!r} has no values and was left out")
        elif fmt.kind == "date":
            self._date(col, s, fmt.note)
        else:
            self._text(col, s)

    def _identifier(self, col: str, s: pd.Series, integer: bool, amount: bool) -> bool:
        """Leave a numeric column out when it looks like an identifier and was not named as a feature."""
        values = parse_numbers(s, self.decimal)[0]
        reason = identifier_reason(values, integer=integer, amount=amount, periods=self.periods, time_name=self.time)
        if reason is None:
            return False
        if col in self.named:
            self.notes.append(f"{col!r} looks like an identifier ({reason}) but was named as a feature (--feature), "
                              "so it is one")
            return False
        self._leave_out(col, f"it looks like an identifier ({reason})")
        self.notes.append(f"{col!r} was left out of the features: {reason}. Name it as a feature (--feature "
                          f"{col}) to use it; the leakage check still tests it")
        return True

    def _date(self, col: str, s: pd.Series, note: str) -> None:
        """A date column: its age at the observation date, or post-event when most dates fall after it."""
        dates, observed = parse_dates(s)[0], self.observed
        if observed is None:
            self._leave_out(col, "it holds dates, and without a time column (--time) there is no observation date "
                                 "to measure their age from")
            self.notes.append(f"{note}; left out: without a time column (--time) there is no observation date "
                              "to measure their age from")
            return
        both = ~np.isnat(dates) & ~np.isnat(observed)
        after = float((dates[both] > observed[both]).mean()) if both.any() else 0.0
        if after > _POST_EVENT_SHARE:
            self._leave_out(col, f"{after:.0%} of its dates fall after the row's observation date: it is recorded "
                                 "after the outcome", post_event=True)
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
            self._leave_out(col, f"it has {n_unique:,} distinct text values, too many for a categorical feature")
            self.notes.append(f"{col!r} has {n_unique:,} distinct text values, too many for a feature; it was left "
                              "out (the leakage check still tests it)")
            return
        cats = tuple(sorted(text.unique().tolist()))
        self.features.append(FeatureSpec(col, "categorical", "other", categories=cats))

    def check_named(self) -> None:
        """Refuse columns named as features (``--feature``) that cannot be one, saying why each cannot."""
        refused = [f"{col!r}: {self.why_not[col]}" for col in self.named if col in self.why_not]
        if refused:
            raise DataFileError("cannot use these columns as features (--feature): " + "; ".join(refused)
                                + ". Leave them out of --feature")


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


def _layout_roles(spec: DatasetSpec, columns: list[str]) -> dict[str, str]:
    """The columns a known layout gives a role other than feature, each with its role in words."""
    roles = [(spec.id, "the id column"), (spec.time, "the time column"), (spec.target, "the target column"),
             (spec.exposure, "the exposure column"), (spec.name_column, "the name column"),
             *((c, "a column the layout never uses as a feature") for c in (*spec.never, *spec.post_event))]
    if spec.segment and spec.segment not in spec.feature_names:
        roles.append((spec.segment, "the segment column"))
    by_name = {normalise_name(c): phrase for c, phrase in roles if c}
    return {c: by_name[normalise_name(c)] for c in columns if normalise_name(c) in by_name}


def extend_spec(spec: DatasetSpec, frame: pd.DataFrame, *, decimal: str = ".",
                features: tuple[str, ...] | list[str] = ()) -> DatasetSpec:
    """Add the frame's columns that the spec does not know as inferred features.

    A column a user added to a known layout is data the model may use, so it is
    declared (and checked for leakage) rather than silently ignored; one that looks like
    an identifier (measured against the spec's time column) is left out with a note,
    unless it is named in ``features``.

    Raises
    ------
    DataFileError
        When a column named in ``features`` is not in the frame, or is one the spec gives another role or
        cannot be a feature.
    """
    known = {normalise_name(c) for c in (*spec.role_columns, *spec.feature_names, *spec.engineered_names,
                                         spec.segment or "")}
    extra = [c for c in frame.columns if normalise_name(c) not in known]
    _check_named(list(frame.columns), features, (), _layout_roles(spec, list(frame.columns)))
    if not extra:
        return spec
    time = next((c for c in frame.columns if spec.time and normalise_name(c) == normalise_name(spec.time)), None)
    found = _Inferred(decimal, None, period_order(frame[time], decimal) if time else None, time,
                      [c for c in features if c in extra])
    for col in extra:
        found.column(col, frame[col])
    found.check_named()
    return replace(spec, features=spec.features + tuple(found.features), never=spec.never + tuple(found.never),
                   post_event=spec.post_event + tuple(found.post_event), notes=spec.notes + tuple(found.notes))
