"""Through-the-cycle (TTC) PDs: the point-in-time PD with the credit cycle taken out, frozen at training.

A model that reads macro inputs (GDP growth, the policy rate, a sector PMI) gives a *point-in-time*
(PIT) PD: in a recession every company's PD rises, so grades that follow it re-grade the whole book.
Limits and pricing are set by grade, so with ``[grading] through_the_cycle = true`` the grade is taken
from a TTC PD instead; decisions (the cut-off, refer or accept) and the expected loss keep the PIT PD.

**Method: a logit shift to the central tendency.** For a company scored in cycle state *t*::

    logit(TTC PD) = logit(PIT PD) - logit(CT_t) + logit(LRDR)

``CT_t`` is the cycle's central tendency at the time of the score, ``LRDR`` the long-run default rate.
The other method the literature offers, Tasche's scaled likelihood ratio, rescales the PDs so that their
portfolio mean hits a target exactly; it needs the portfolio's score distribution at time *t*, which a
single API request does not have, and it equals a logit shift when the likelihood ratio is scaled by one
constant (the odds ratio ``LRDR/(1-LRDR) / (CT_t/(1-CT_t))``). The logit shift is a function of the
company's own PD and of ``CT_t`` alone, keeps the order of companies within a cycle state (a
strictly increasing map; a property test holds it), is the identity when ``CT_t`` equals the long-run
rate, and makes the TTC PD of a company the same in a boom and a recession as far as the model's macro
inputs explain the difference.

**The central tendency without a portfolio.** ``logit(CT_t)`` is the mean log-odds of the calibrated PDs
of a fixed *reference sample* of training rows (:data:`REFERENCE_ROWS`, drawn with the run's seed)
re-scored with the macro values of the company being scored. The mean of the log-odds, not the log-odds
of the mean PD: for a model additive in log-odds (the logistic candidate; boosted trees to first order) a
macro move shifts every company's log-odds by the same amount, which the mean log-odds recovers exactly,
while the mean PD is pulled by the sample's few riskiest companies. So the shift removes the part of the
PD that the model's macro inputs explain, for an average company, and a single request is graded from the
bundle alone.
The sample (``cycle.parquet``) and the parameters (``bundle.json``'s ``cycle``) are frozen in the bundle
when it is trained; :class:`CentralTendency` re-scores the sample once per distinct macro state and keeps
the answer (a file of a million company-years holds a few hundred states: the year, the region's GDP, the
sector's PMI). A sample of 100 rows re-scored at the ~400 macro states of the demo's training years costs
about a second at training; the sample fixes the *shape* of the cycle (how ``CT`` moves with the macro
state), and its *level* is fixed once, at training, by one logit offset (``level``) chosen so that the TTC
PDs of the training rows average exactly to the long-run rate: the mean log-odds of a hundred skewed PDs
sits well below the log-odds of the portfolio's mean PD, and a shift in log-odds moves the mean of dispersed
PDs differently from their mean's log-odds, so without it the training mean would miss the long-run rate
(by 5-10% on the demo even with the mean PD). A model without macro inputs has one state: ``CT`` is the
mean PD of the training rows and the TTC PD a constant logit shift to the long-run rate.

**What it does on the demo.** Between 2019 and the 2020 stress year (5,000 companies, 2,531 in both years)
the cycle alone — each company's 2020 financials graded with 2020's and with 2019's macro values — moves
1,102 companies across PIT grades and 286 across TTC grades. The mean PD rises from 6.2% to 9.1% on PIT PDs
and from 5.8% to 6.7% on TTC PDs (the rest moves through the companies' own financials, which the macro
inputs do not explain); downgrades less upgrades fall from 694 to 285. The observed number of companies
that change grade barely falls (2,052 on PIT grades, 2,035 on TTC grades): 77-80% of the demo's companies
change grade between any two years, with the true PD too, and no cycle adjustment removes those moves; the
cycle gives them their direction, which TTC grades take out.

**The long-run default rate** is ``[grading] long_run_default_rate``: ``"training"`` (the mean of the
yearly default rates over the training periods, each year weighing the same, as a cycle average should)
or a share the bank sets. Both are frozen in the bundle, so a model's grades never change with a later
setting; the setting and ``through_the_cycle`` take effect for the models trained after the change.

**Off by default.** Turning it on changes every company's grade, which existing users must not see
without asking: a bundle trained with it off (or before it existed) grades on the PIT PD, exactly as
before. The TTC parameters and the grade-move figures are measured for every model, so the report shows
what turning it on would do.

:func:`cycle_block` is the training-time measurement (``metrics.json``'s ``cycle``): the mean PIT and
TTC PD over the training periods against the long-run rate, and how many companies changed grade between
the stress period (the highest observed default rate) and the period before it, under PIT and TTC grades.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from riskcore.config import GradingRules
from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.grading import grade_index
from riskcore.lru import LRU
from riskcore.numeric import expit, logit

__all__ = ["METHOD", "REFERENCE_ROWS", "STATE_STEPS", "Basis", "CentralTendency", "CycleModel", "cycle_block",
           "fit_cycle", "long_run_rate", "macro_inputs", "stress_periods", "ttc_pd"]

Basis = Literal["pit", "ttc"]
METHOD = "logit_shift"
REFERENCE_ROWS = 100
"""Training rows re-scored per macro state: enough for the macro effect's average, cheap at ~400 states."""
_STATES = 4096
_BATCH_STATES = 256  # macro states re-scored per call: 25,600 sample rows at most
STATE_STEPS = 20
"""Steps to one standard deviation of a macro input at which the central tendency reads it (see CentralTendency)."""

PScorer = Callable[[pd.DataFrame], np.ndarray]
"""The calibrated PD of each row of a frame of model inputs (the fitted pipeline's, or the bundle's)."""


def ttc_pd(p_pit: np.ndarray, central: np.ndarray | float, long_run: float) -> np.ndarray:
    """TTC PD by the logit shift: ``expit(logit(p_pit) - logit(central) + logit(long_run))``.

    Parameters
    ----------
    p_pit : the calibrated point-in-time PDs.
    central : the central tendency of each PD's cycle state (or one for all).
    long_run : the long-run default rate.

    Returns
    -------
    numpy.ndarray of TTC PDs, in (0, 1).
    """
    z = logit(p_pit) - logit(central) + logit(long_run)
    return np.asarray(expit(z))


def long_run_rate(periods: np.ndarray | None, y: np.ndarray) -> float:
    """The mean of the per-period default rates (each period weighing the same); the overall rate without periods.

    Raises
    ------
    ValueError
        When there are no rows, or no defaults at all (a long-run rate of 0 grades nothing).
    """
    y = np.asarray(y, dtype=float)
    if not len(y):
        raise ValueError("no training rows to take a long-run default rate from")
    rate = float(pd.Series(y).groupby(np.asarray(periods)).mean().mean()) if periods is not None else float(y.mean())
    if not rate > 0:
        raise ValueError("the training rows hold no default, so they give no long-run default rate; set [grading] "
                         "long_run_default_rate to a share such as 0.03")
    return rate


def macro_inputs(spec: DatasetSpec, inputs: list[str]) -> tuple[str, ...]:
    """The model inputs of the macro family that are numbers: the cycle's state."""
    return tuple(c for c in inputs if spec.feature(c).family == "macro" and spec.feature(c).kind == "numeric")


@dataclass(frozen=True)
class CycleModel:
    """What the bundle freezes: the grade basis, the long-run rate, the macro inputs and the reference sample.

    ``reference`` holds the sample's model inputs (``cycle.parquet``); ``training_mean_pd`` is the mean
    calibrated PD of the training rows, the central tendency of a model without macro inputs.
    """

    basis: Basis
    long_run_default_rate: float
    long_run_source: Literal["training", "setting"]
    macro: tuple[str, ...]
    training_mean_pd: float
    reference: pd.DataFrame
    level: float = 0.0

    def info(self) -> dict[str, Any]:
        """``bundle.json``'s ``cycle``: everything but the reference rows."""
        return {"method": METHOD, "basis": self.basis, "long_run_default_rate": self.long_run_default_rate,
                "long_run_source": self.long_run_source, "macro": list(self.macro),
                "training_mean_pd": self.training_mean_pd, "level": self.level,
                "reference_rows": int(len(self.reference))}

    @classmethod
    def from_info(cls, info: dict[str, Any], reference: pd.DataFrame) -> CycleModel:
        """Read back :meth:`info` and the reference rows.

        Raises
        ------
        ValueError
            When a field is missing or has another meaning than this version knows.
        """
        if info.get("method") != METHOD or info.get("basis") not in ("pit", "ttc"):
            raise ValueError(f"unknown through-the-cycle method {info.get('method')!r} or basis {info.get('basis')!r}")
        return cls(basis=info["basis"], long_run_default_rate=float(info["long_run_default_rate"]),
                   long_run_source=info["long_run_source"], macro=tuple(info["macro"]),
                   training_mean_pd=float(info["training_mean_pd"]), reference=reference,
                   level=float(info.get("level", 0.0)))


def _states(frame: pd.DataFrame, macro: tuple[str, ...],
            steps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct macro states of a frame's rows and each row's position among them (missing is a value).

    ``steps``: each macro input is read to the nearest multiple of its step (0: as it is).
    """
    if not macro:
        return np.zeros((1, 0)), np.zeros(len(frame), dtype=np.intp)
    values = np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) if c in frame
                              else np.full(len(frame), np.nan) for c in macro])
    if steps is not None and np.any(steps > 0):
        step = np.where(steps > 0, steps, 1.0)
        values = np.where(steps > 0, np.round(values / step) * step, values)
    filled = np.where(np.isnan(values), np.inf, values)  # np.unique sees every NaN as a new value; inf never occurs
    uniq, inverse = np.unique(filled, axis=0, return_inverse=True)
    return np.where(np.isinf(uniq), np.nan, uniq), inverse.reshape(-1)


def _state_steps(cycle: CycleModel) -> np.ndarray:
    """The step each macro input is read to: :data:`STATE_STEPS` steps to one standard deviation of the sample.

    A macro series holds a few values per period (a year, a region's GDP, a sector's PMI), but a file may
    carry them with noise, one value per company: read exactly, every row would be a state of its own,
    each re-scoring the whole sample (a file of the demo's layout with 1% noise on its macro inputs took 11 GB
    before). Half a step is a fortieth of the cycle's own spread: on such a file 99% of rows get a central
    tendency within 0.04 in log-odds of the exact one (0.69 separates two grades; the largest difference,
    0.47, is where the model's response to a macro input is steep), and 49,248 rows score in 2.5 s instead
    of 14 s at a hundredth. 0 for an input the sample holds one value of (read as it is).
    """
    out = []
    for name in cycle.macro:
        column = pd.to_numeric(cycle.reference[name], errors="coerce") if name in cycle.reference else None
        spread = float(column.std()) if column is not None and column.notna().sum() > 1 else 0.0
        out.append(spread / STATE_STEPS if np.isfinite(spread) and spread > 0 else 0.0)
    return np.asarray(out, dtype=float)


class CentralTendency:
    """``CT_t`` of any macro state: the reference sample's mean log-odds at those macro values, kept once computed.

    Thread-safe (the states are kept in an :class:`~riskcore.lru.LRU`); two threads that meet a new state
    at once both compute it, with the same answer.
    """

    def __init__(self, cycle: CycleModel, p_of: PScorer, maxsize: int = _STATES) -> None:
        self.cycle = cycle
        self._p_of = p_of
        self._known: LRU[tuple[float, ...], float] = LRU(maxsize)
        self._steps = _state_steps(cycle)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the kept states (a bundle is sent to a cluster's workers with its lock-free part)."""
        return {"cycle": self.cycle, "p_of": self._p_of, "maxsize": self._known.maxsize}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cycle"], state["p_of"], state["maxsize"])  # type: ignore[misc]

    def with_cycle(self, cycle: CycleModel) -> CentralTendency:
        """The same states kept, for a cycle with the same reference sample (another level or basis)."""
        twin = CentralTendency(cycle, self._p_of, self._known.maxsize)
        twin._known = self._known
        return twin

    def of(self, frame: pd.DataFrame) -> np.ndarray:
        """The central tendency of each row of ``frame`` (which holds the macro inputs; other columns ignored)."""
        return np.asarray(expit(self.sample_logit(frame) + self.cycle.level))

    def sample_logit(self, frame: pd.DataFrame) -> np.ndarray:
        """The reference sample's mean log-odds at each row's macro state (before the level offset)."""
        macro = self.cycle.macro
        if not macro:
            return np.full(len(frame), float(logit(self.cycle.training_mean_pd)))
        states, inverse = _states(frame, macro, self._steps)
        keys = [tuple(float(v) for v in s) for s in states]
        found = [self._known.get(k) for k in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        ref = self.cycle.reference
        for start in range(0, len(todo), _BATCH_STATES):  # a bounded block of sample rows per call, memory flat
            batch = todo[start:start + _BATCH_STATES]
            stacked = pd.concat([ref] * len(batch), ignore_index=True)
            for j, name in enumerate(macro):
                stacked[name] = np.repeat(states[batch, j], len(ref))
            means = logit(self._p_of(stacked)).reshape(len(batch), len(ref)).mean(axis=1)
            for i, m in zip(batch, means.tolist(), strict=True):
                found[i] = m
                self._known[keys[i]] = m
        return np.asarray(found, dtype=float)[inverse]

    def ttc(self, p_pit: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        """The TTC PD of each row: its PIT PD shifted from its state's central tendency to the long-run rate."""
        return ttc_pd(p_pit, self.of(frame), self.cycle.long_run_default_rate)


def fit_cycle(X_train: pd.DataFrame, y_train: np.ndarray, p_of: PScorer, spec: DatasetSpec,
              inputs: list[str], grading: GradingRules, *, random_state: int,
              n_reference: int = REFERENCE_ROWS) -> tuple[CycleModel, CentralTendency]:
    """Freeze the cycle of a trained model: the reference sample, the long-run rate, the level, the grade basis.

    Parameters
    ----------
    X_train, y_train : the training rows (model inputs, with the time column when there is one) and outcomes.
    p_of : the run's calibrated PD of a frame of model inputs.
    spec, inputs : the dataset spec and the model inputs.
    grading : the ``[grading]`` settings of the run.
    random_state : the seed that draws the reference sample.
    n_reference : rows in the reference sample.

    Returns
    -------
    The frozen :class:`CycleModel` and a :class:`CentralTendency` of it that keeps the training states.

    Raises
    ------
    ValueError
        When the long-run rate is taken from training rows without a default.
    """
    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.choice(len(X_train), min(n_reference, len(X_train)), replace=False))
    reference = X_train.iloc[keep][[c for c in inputs if c in X_train]].reset_index(drop=True)
    given = grading.long_run_rate
    periods = X_train[spec.time].to_numpy() if spec.time and spec.time in X_train else None
    rate = float(given if given is not None else long_run_rate(periods, y_train))
    p_train = p_of(X_train)
    cycle = CycleModel(basis="ttc" if grading.through_the_cycle else "pit", long_run_default_rate=rate,
                       long_run_source="setting" if given is not None else "training",
                       macro=macro_inputs(spec, inputs), training_mean_pd=float(np.mean(p_train)), reference=reference)
    central = CentralTendency(cycle, p_of)
    shifted = logit(p_train) - central.sample_logit(X_train) + logit(rate)

    def gap(level: float) -> float:
        return float(np.mean(expit(shifted - level))) - rate

    # the mean falls as the level rises; +-20 in log-odds brackets any reachable rate
    level = float(brentq(gap, -20.0, 20.0, xtol=1e-10)) if gap(-20.0) > 0 > gap(20.0) else 0.0
    cycle = replace(cycle, level=level)
    return cycle, central.with_cycle(cycle)


def stress_periods(periods: np.ndarray, y: np.ndarray) -> tuple[Any, Any] | None:
    """(the stress period, the period before it): the highest observed default rate with a period before it."""
    rates = pd.Series(np.asarray(y, dtype=float)).groupby(np.asarray(periods)).mean().sort_index()
    if len(rates) < 2:
        return None
    at = 1 + int(np.argmax(rates.to_numpy()[1:]))
    return rates.index[at], rates.index[at - 1]


def _moves(ids: np.ndarray, periods: np.ndarray, grades: np.ndarray, stress: Any,
           before: Any) -> tuple[int, int, int]:
    """(companies in both periods, those whose grade differs between them, those graded worse in the stress)."""
    frame = pd.DataFrame({"id": ids, "period": periods, "grade": grades})
    a = frame[frame["period"] == before].drop_duplicates("id", keep="last").set_index("id")["grade"]
    b = frame[frame["period"] == stress].drop_duplicates("id", keep="last").set_index("id")["grade"]
    both = a.index.intersection(b.index)
    g0, g1 = a.loc[both].to_numpy(), b.loc[both].to_numpy()
    return int(len(both)), int((g0 != g1).sum()), int((g1 > g0).sum())


def cycle_block(central: CentralTendency, p_of: PScorer, frame: pd.DataFrame, y: np.ndarray,
                train_rows: np.ndarray, spec: DatasetSpec) -> dict[str, Any]:
    """``metrics["cycle"]``: the frozen parameters, the training periods' mean PDs and the stress-year grade moves.

    Parameters
    ----------
    central : the frozen cycle of the run (:func:`fit_cycle`'s, which keeps the training states).
    p_of : the run's calibrated PD of a frame of model inputs.
    frame, y : every prepared row of the run (with the id and time columns) and its outcomes.
    train_rows : the positions of the training rows in ``frame``.
    spec : the dataset spec (its id and time columns).

    Returns
    -------
    dict with the parameters of :meth:`CycleModel.info`, ``training`` (rows, periods, mean PIT PD, mean TTC
    PD, the long-run rate) and ``stress`` (the stress and normal periods, their default rates, the companies
    in both, how many changed grade and how many were downgraded and upgraded under PIT and under TTC grades,
    each period's mean PIT and TTC PD; None without a time column or an id), ``normal`` (the same counts
    between the period before the stress and the one before that, the companies' own churn; None without it)
    and ``cycle_only`` (the companies of both periods, their stress-period rows graded with the stress period's
    macro values and with those of the period before: how many change grade by the cycle alone, under PIT and
    TTC grades; None without macro inputs).
    """
    cycle = central.cycle
    X_train = frame.iloc[train_rows]
    p_train = p_of(X_train)
    t_train = central.ttc(p_train, X_train)
    periods = frame[spec.time].to_numpy() if spec.time and spec.time in frame else None
    out: dict[str, Any] = {
        **cycle.info(),
        "training": {"rows": int(len(X_train)),
                     "periods": int(len(np.unique(periods[train_rows]))) if periods is not None else 1,
                     "mean_pd_pit": float(p_train.mean()), "mean_pd_ttc": float(t_train.mean()),
                     "long_run_default_rate": cycle.long_run_default_rate},
        "stress": None,
        "normal": None,
        "cycle_only": None,
    }
    pair = stress_periods(periods, y) if periods is not None and spec.id and spec.id in frame else None
    if pair is None or periods is None:
        return out
    stress, before = pair
    earlier = sorted(q for q in np.unique(periods) if q < before)
    if earlier:  # the same counts between two ordinary years: the companies' own churn, for comparison
        rows = np.flatnonzero(np.isin(periods, [before, earlier[-1]]))
        part = frame.iloc[rows]
        p = p_of(part)
        ids, when = part[spec.id].to_numpy(), periods[rows]
        companies, moved_pit, _ = _moves(ids, when, grade_index(p), before, earlier[-1])
        _, moved_ttc, _ = _moves(ids, when, grade_index(central.ttc(p, part)), before, earlier[-1])
        out["normal"] = {"period": _plain(before), "before": _plain(earlier[-1]), "companies": companies,
                         "moved_pit": moved_pit, "moved_ttc": moved_ttc}
    rows = np.flatnonzero(np.isin(periods, [stress, before]))
    part = frame.iloc[rows]
    p = p_of(part)
    t = central.ttc(p, part)
    ids, when = part[spec.id].to_numpy(), periods[rows]
    out["cycle_only"] = _cycle_only(central, p_of, part, str(spec.id), when, stress, before)
    companies, moved_pit, down_pit = _moves(ids, when, grade_index(p), stress, before)
    _, moved_ttc, down_ttc = _moves(ids, when, grade_index(t), stress, before)
    at_stress, at_before = when == stress, when == before
    out["stress"] = {
        "period": _plain(stress), "before": _plain(before),
        "default_rate": float(np.mean(y[rows][at_stress])), "default_rate_before": float(np.mean(y[rows][at_before])),
        "companies": companies, "moved_pit": moved_pit, "moved_ttc": moved_ttc,
        "downgraded_pit": down_pit, "downgraded_ttc": down_ttc,
        "upgraded_pit": moved_pit - down_pit, "upgraded_ttc": moved_ttc - down_ttc,
        # the cycle's re-grading of the book: downgrades less upgrades (the companies' own churn cancels out)
        "net_downgraded_pit": 2 * down_pit - moved_pit, "net_downgraded_ttc": 2 * down_ttc - moved_ttc,
        "share_pit": moved_pit / companies if companies else None,
        "share_ttc": moved_ttc / companies if companies else None,
        "mean_pd_pit": float(p[at_stress].mean()), "mean_pd_pit_before": float(p[at_before].mean()),
        "mean_pd_ttc": float(t[at_stress].mean()), "mean_pd_ttc_before": float(t[at_before].mean()),
    }
    return out


def _cycle_only(central: CentralTendency, p_of: PScorer, part: pd.DataFrame, id_column: str, when: np.ndarray,
                stress: Any, before: Any) -> dict[str, Any] | None:
    """The grade moves the cycle alone causes: each company's stress-period row scored with its macro values of before.

    The companies' financials stay those of the stress period, so the grade changes counted are the ones the
    cycle's macro state makes, apart from the companies' own changes (which the observed moves mix in: on the
    demo 77-80% of companies change grade between any two years, with the true PD too). None without macro
    inputs, or without a company in both periods.
    """
    macro = [c for c in central.cycle.macro if c in part]
    if not macro:
        return None
    now = part[when == stress].drop_duplicates(id_column, keep="last").set_index(id_column, drop=False)
    then = part[when == before].drop_duplicates(id_column, keep="last").set_index(id_column, drop=False)
    both = now.index.intersection(then.index)
    if not len(both):
        return None
    stressed = now.loc[both]
    normal = stressed.copy()
    for c in macro:
        normal[c] = then.loc[both, c].to_numpy()
    stressed, normal = stressed.reset_index(drop=True), normal.reset_index(drop=True)
    p_stress, p_normal = p_of(stressed), p_of(normal)
    pit = grade_index(p_stress) != grade_index(p_normal)
    ttc = grade_index(central.ttc(p_stress, stressed)) != grade_index(central.ttc(p_normal, normal))
    return {"period": _plain(stress), "macro_of": _plain(before), "companies": int(len(both)),
            "moved_pit": int(pit.sum()), "moved_ttc": int(ttc.sum()), "macro": macro}


def _plain(value: Any) -> Any:
    """A period as JSON holds it: numpy scalars as Python numbers, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (int, float, str)) else str(value)
