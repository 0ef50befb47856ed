"""The points scorecard: optimal binning, weight of evidence, logistic regression, points.

:class:`PointsScorecard` is the ``scorecard`` candidate's estimator (the last step after
:class:`~riskcore.modelling.features.FeatureBuilder`). Fitting hands the model matrix to
optbinning: its ``BinningProcess`` bins every characteristic optimally, with the event rate
(the default rate) ascending where the spec declares a direction of +1, descending where it
declares -1, and whichever of the two is stronger (``auto_asc_desc``) where it declares none;
categorical characteristics are grouped by their event rates. Each row's bins become their
weights of evidence, a logistic regression is fitted on them (:class:`SignedLogistic`: no
characteristic may count against its own binning), and optbinning's ``Scorecard``
turns the result into whole points with the ``pdo_odds`` scaling::

    factor = pdo / ln 2        offset = base_points - factor * ln(base_odds)
    points(bin) = rint(offset / n - factor * (WoE(bin) * coef + intercept / n))

(optbinning's WoE is ``ln(non-event share / event share)``: a bin with fewer defaults than the
average has a positive WoE and, its coefficient being negative, more points). A missing value
counts as average (WoE 0, optbinning's default), and so does a category unseen in training: both
fall in the ``Missing`` bin. A company's score
is the sum of its bins' points; more points mean lower risk, and ``base_points`` means odds of
``base_odds`` to 1 against default. The model's raw score (the log-odds of default the
calibrators take, as for every other candidate) is read back from the total::

    raw = (offset - total) / factor

What the fit leaves behind is a :class:`Card`: the bins' edges (or category codes), their
counts, event rates, WoE and points, in plain numbers. It is what scoring, the bundle
(``scorecard.json``), the explanation and the points table read; optbinning itself is needed
only to fit (it takes about two seconds to import, so it is imported then).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from riskcore.numeric import expit

__all__ = ["MISSING_BIN", "Card", "PointsScorecard", "SignedLogistic", "company_points", "event_rate_trend",
           "points_table"]

MISSING_BIN = "Missing"
"""The label of the bin a missing value (or a category unseen in training) falls in."""


def event_rate_trend(direction: int) -> str:
    """The ``monotonic_trend`` (optbinning's) for a declared direction: +1 ascending, -1 descending, else either."""
    if direction > 0:
        return "ascending"
    if direction < 0:
        return "descending"
    return "auto_asc_desc"


@dataclass(frozen=True)
class Card:
    """A fitted scorecard in plain numbers.

    ``names``: the characteristics, in the model matrix's column order; ``categorical``: those
    binned as categories (the matrix holds their integer codes). Per characteristic, ``splits``
    (the numeric bins' inner edges, ``[a, b)`` intervals) or ``groups`` (each bin's category
    codes), and per bin (the last one the missing bin) ``counts``, ``event_rates``, ``woe`` and
    ``points``. ``mean_points``: each characteristic's average points over the training rows (the
    reference of the explanation). ``coefficients`` and ``intercept``: the logistic regression on
    the WoE.
    """

    names: tuple[str, ...]
    categorical: tuple[str, ...]
    splits: dict[str, list[float]]
    groups: dict[str, list[list[float]]]
    counts: dict[str, list[int]]
    event_rates: dict[str, list[float]]
    woe: dict[str, list[float]]
    points: dict[str, list[float]]
    mean_points: dict[str, float]
    coefficients: dict[str, float]
    intercept: float
    pdo: float
    base_points: float
    base_odds: float

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return float(self.pdo / np.log(2.0))

    @property
    def offset(self) -> float:
        """The total points at even odds: ``base_points - factor * ln(base_odds)``."""
        return float(self.base_points - self.factor * np.log(self.base_odds))

    def bin_indices(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's bin of each characteristic (rows × characteristics; the last bin is the missing one)."""
        matrix = np.asarray(matrix, dtype=float)
        out = np.empty(matrix.shape, dtype=np.int64)
        for j, name in enumerate(self.names):
            x = matrix[:, j]
            missing = len(self.points[name]) - 1
            if name in self.groups:
                index = np.full(len(x), missing, dtype=np.int64)
                for b, codes in enumerate(self.groups[name]):
                    index[np.isin(x, codes)] = b
            else:
                index = np.digitize(np.nan_to_num(x, nan=0.0), self.splits[name], right=False)
                index[~np.isfinite(x)] = missing
            out[:, j] = index
        return out

    def row_points(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's points per characteristic (rows × characteristics)."""
        index = self.bin_indices(matrix)
        return np.column_stack([np.asarray(self.points[name], dtype=float)[index[:, j]]
                                for j, name in enumerate(self.names)]) if self.names else np.zeros((len(index), 0))

    def total(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's score: the sum of its points."""
        return self.row_points(matrix).sum(axis=1)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds of default the total stands for: ``(offset - total) / factor``."""
        return (self.offset - self.total(matrix)) / self.factor

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds contributions (rows × (characteristics + 1), the last column the base).

        A characteristic's contribution is its points below its training average, in log-odds:
        ``-(points - mean_points) / factor``; the base is the raw score of a company with every
        characteristic's average points. They add up to the raw score exactly (they are the SHAP
        values of an additive model).
        """
        pts = self.row_points(matrix)
        mean = np.array([self.mean_points[n] for n in self.names], dtype=float)
        phi = -(pts - mean) / self.factor
        base = (self.offset - mean.sum()) / self.factor
        return np.column_stack([phi, np.full(len(pts), base)])

    def bin_labels(self, name: str, categories: list[str] | None = None) -> list[str]:
        """The bins of one characteristic as a person reads them: ``[0.78, 0.92)``, ``Energy, Utilities``, Missing."""
        if name in self.groups:
            cats = categories or []
            labels = [", ".join(cats[int(c)] if 0 <= int(c) < len(cats) else str(int(c)) for c in codes)
                      for codes in self.groups[name]]
        else:
            edges = [-np.inf, *self.splits[name], np.inf]
            labels = [f"[{_edge(a)}, {_edge(b)})" if np.isfinite(a) else f"(-inf, {_edge(b)})"
                      for a, b in zip(edges[:-1], edges[1:])] if self.splits[name] else ["any value"]
        return [*labels, MISSING_BIN]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``scorecard.json`` in the bundle)."""
        return {"names": list(self.names), "categorical": list(self.categorical), "splits": self.splits,
                "groups": self.groups, "counts": self.counts, "event_rates": self.event_rates, "woe": self.woe,
                "points": self.points, "mean_points": self.mean_points, "coefficients": self.coefficients,
                "intercept": self.intercept, "pdo": self.pdo, "base_points": self.base_points,
                "base_odds": self.base_odds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        """Rebuild a card from :meth:`to_dict`."""
        names = tuple(str(n) for n in data["names"])
        return cls(
            names=names, categorical=tuple(str(n) for n in data["categorical"]),
            splits={k: [float(x) for x in v] for k, v in data["splits"].items()},
            groups={k: [[float(c) for c in g] for g in v] for k, v in data["groups"].items()},
            counts={k: [int(x) for x in v] for k, v in data["counts"].items()},
            event_rates={k: [float(x) for x in v] for k, v in data["event_rates"].items()},
            woe={k: [float(x) for x in v] for k, v in data["woe"].items()},
            points={k: [float(x) for x in v] for k, v in data["points"].items()},
            mean_points={k: float(v) for k, v in data["mean_points"].items()},
            coefficients={k: float(v) for k, v in data["coefficients"].items()},
            intercept=float(data["intercept"]), pdo=float(data["pdo"]), base_points=float(data["base_points"]),
            base_odds=float(data["base_odds"]))


def _edge(x: float) -> str:
    """A bin edge with four significant digits."""
    return f"{x:.4g}"


class SignedLogistic(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Logistic regression on weights of evidence whose every coefficient has the sign WoE calls for.

    A bin's WoE grows as its default rate falls, so each coefficient of a regression predicting
    default should be at most 0. Correlated characteristics can turn one positive, which would
    reverse its points against its own binning (and its declared direction). As scorecard
    builders do, the characteristic with the most positive coefficient is taken out and the
    regression refitted until none is left; a characteristic taken out keeps a coefficient of 0
    (the same points in every bin). scikit-learn's ``LogisticRegression`` does the fitting.
    """

    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X: Any, y: Any) -> SignedLogistic:
        """Fit, dropping wrong-signed characteristics one at a time."""
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=float)
        keep = np.ones(X.shape[1], dtype=bool)
        while True:
            model = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=200).fit(X[:, keep], y)
            coef = np.zeros(X.shape[1])
            coef[keep] = model.coef_[0]
            if not keep.any() or coef.max() <= 0:
                break
            keep[int(np.argmax(coef))] = False
        self.coef_ = coef[None, :]
        self.intercept_ = np.asarray(model.intercept_, dtype=float)
        self.dropped_ = np.flatnonzero(~keep)
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The log-odds of default of WoE rows."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=float) @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of WoE rows."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 where the probability of default is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class PointsScorecard(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Optimal binning, WoE, logistic regression and points (see the module's docstring).

    Parameters
    ----------
    names : the model matrix's column names (the characteristics).
    categorical : the names whose columns hold category codes.
    trends : per numeric name, optbinning's ``monotonic_trend`` (:func:`event_rate_trend`).
    C : the logistic regression's inverse L2 strength.
    pdo, base_points, base_odds : the points scaling: ``pdo`` points double the odds, and
        ``base_points`` stand for odds of ``base_odds`` to 1 against default.
    max_n_prebins : pre-bins per characteristic before the optimal merge (fewer: a faster solve).

    Attributes
    ----------
    card_ : Card
    binned_ : the characteristics binned (a column with fewer than two values gets no points).
    scorecard_ : the fitted ``optbinning.Scorecard`` (not kept in the bundle).
    """

    def __init__(self, names: tuple[str, ...] = (), categorical: tuple[str, ...] = (),
                 trends: dict[str, str] | None = None, C: float = 1.0, pdo: float = 20.0,
                 base_points: float = 600.0, base_odds: float = 50.0, max_n_prebins: int = 10):
        self.names = names
        self.categorical = categorical
        self.trends = trends
        self.C = C
        self.pdo = pdo
        self.base_points = base_points
        self.base_odds = base_odds
        self.max_n_prebins = max_n_prebins

    def _frame(self, X: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(X, dtype=float), columns=list(self.names))

    def fit(self, X: np.ndarray, y: Any) -> PointsScorecard:
        """Bin every characteristic, fit the logistic regression on the WoE and scale the points."""
        from optbinning import BinningProcess, Scorecard  # about 2 s to import, and needed only to fit
        y = np.asarray(y, dtype=int)
        frame = self._frame(X)
        values = frame.to_numpy(dtype=float)
        # a column with fewer than two values (e.g. year-on-year changes of a single year) separates nothing and
        # cannot be binned: it stays a characteristic of one bin and no points
        self.binned_ = tuple(n for j, n in enumerate(self.names)
                             if len(np.unique(values[np.isfinite(values[:, j]), j])) >= 2)
        trends = self.trends or {}
        fit_params = {n: {"monotonic_trend": trends.get(n, "auto_asc_desc")} for n in self.binned_
                      if n not in self.categorical}
        process = BinningProcess(list(self.binned_), categorical_variables=[n for n in self.categorical
                                                                             if n in self.binned_],
                                 max_n_prebins=self.max_n_prebins, binning_fit_params=fit_params)
        card = Scorecard(process, SignedLogistic(C=self.C),
                         scaling_method="pdo_odds", rounding=True,
                         scaling_method_params={"pdo": self.pdo, "odds": self.base_odds,
                                                "scorecard_points": self.base_points})
        with warnings.catch_warnings():
            # optbinning 1.0 uses pandas idioms pandas 3 deprecates (the results are unaffected)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            card.fit(frame, y)
        self.scorecard_ = card
        self.card_ = self._card(card, frame, y)
        self.classes_ = np.array([0, 1])
        return self

    def _card(self, card: Any, frame: pd.DataFrame, y: np.ndarray) -> Card:
        """The plain numbers of a fitted optbinning scorecard (the special-codes bin, never used, left out)."""
        table = card.table("detailed")
        splits: dict[str, list[float]] = {}
        groups: dict[str, list[list[float]]] = {}
        stats: dict[str, dict[str, list[Any]]] = {k: {} for k in ("counts", "event_rates", "woe", "points")}
        coefficients: dict[str, float] = {}
        for name in self.names:
            if name not in self.binned_:
                present = np.isfinite(frame[name].to_numpy(dtype=float))
                splits[name] = []
                stats["counts"][name] = [int(present.sum()), int((~present).sum())]
                stats["event_rates"][name] = [float(y[present].mean()) if present.any() else 0.0,
                                              float(y[~present].mean()) if (~present).any() else 0.0]
                stats["woe"][name], stats["points"][name], coefficients[name] = [0.0, 0.0], [0.0, 0.0], 0.0
                continue
            optb = card.binning_process_.get_binned_variable(name)
            rows = table[table["Variable"] == name]
            rows = rows[rows["Bin"].astype(str) != "Special"]
            if name in self.categorical:
                groups[name] = [[float(c) for c in np.asarray(g, dtype=float)] for g in optb.splits]
            else:
                splits[name] = [float(s) for s in optb.splits]
            stats["counts"][name] = [int(c) for c in rows["Count"]]
            stats["event_rates"][name] = [float(r) for r in rows["Event rate"]]
            # the regression saw a missing value as average (optbinning's metric_missing=0): its WoE is 0
            stats["woe"][name] = [*(float(w) for w in rows["WoE"].iloc[:-1]), 0.0]
            stats["points"][name] = [float(p) for p in rows["Points"]]
            coefficients[name] = float(rows["Coefficient"].iloc[0])
        intercept = float(np.ravel(card.estimator_.intercept_)[0])
        draft = Card(tuple(self.names), tuple(self.categorical), splits, groups, stats["counts"],
                     stats["event_rates"], stats["woe"], stats["points"], dict.fromkeys(self.names, 0.0),
                     coefficients, intercept, float(self.pdo), float(self.base_points), float(self.base_odds))
        mean = draft.row_points(frame.to_numpy(dtype=float)).mean(axis=0)
        return replace(draft, mean_points={n: float(m) for n, m in zip(self.names, mean)})

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The raw score: the log-odds of default of each row's total points."""
        check_is_fitted(self, "card_")
        return self.card_.raw(np.asarray(X, dtype=float))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities read from the total points (uncalibrated)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 where the points' PD is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def points_table(card: Card, categories: dict[str, list[str]], labels: dict[str, str]) -> pd.DataFrame:
    """The scorecard as a credit officer reads it, one row per bin of each characteristic.

    Columns: characteristic, label, bin, count, event_rate, woe, points (``categories`` names
    the category codes, ``labels`` the characteristics). A company's score is the sum of the
    points of the bins it falls in.
    """
    parts = []
    for name in card.names:
        bins = card.bin_labels(name, categories.get(name))
        parts.append(pd.DataFrame({
            "characteristic": name, "label": labels.get(name, name), "bin": bins,
            "count": np.asarray(card.counts[name], dtype=np.int64), "event_rate": card.event_rates[name],
            "woe": card.woe[name], "points": card.points[name]}))
    columns = ["characteristic", "label", "bin", "count", "event_rate", "woe", "points"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def company_points(card: Card, matrix: np.ndarray, categories: dict[str, list[str]],
                   labels: dict[str, str]) -> pd.DataFrame:
    """Each row's bin and points per characteristic, in long form.

    Columns: row (position), characteristic, label, bin, points. Each row's points add up to
    its score (:meth:`Card.total`).
    """
    index = card.bin_indices(matrix)
    pts = card.row_points(matrix)
    n, k = pts.shape
    bins = [np.asarray(card.bin_labels(name, categories.get(name)), dtype=object)[index[:, j]]
            for j, name in enumerate(card.names)]
    return pd.DataFrame({
        "row": np.repeat(np.arange(n), k),
        "characteristic": np.tile(np.asarray(card.names, dtype=object), n),
        "label": np.tile(np.asarray([labels.get(c, c) for c in card.names], dtype=object), n),
        "bin": np.column_stack(bins).ravel() if k else np.empty(0, dtype=object),
        "points": pts.ravel(),
    })
