"""Stages and expected credit loss (IFRS 9 and CECL) from lifetime PD curves, weighted over macro scenarios.

The arithmetic of a provision, on plain arrays; where the PDs come from (a model re-scoring each scenario)
is the serving layer's business (:mod:`riskcore.serving.provisions`).

**Stages** (:func:`assign_stages`), first rule that holds wins, each company with its reason:

1. stage 3 — the exposure is in default: the defaulted flag is set, or it is more than
   ``dpd_default`` days past due (90 by default, the default definition's backstop);
2. stage 2 — a significant increase in credit risk since origination: the lifetime PD over the remaining
   term is at least ``sicr_relative`` higher than the lifetime PD expected at origination over the same
   term *and* at least ``sicr_absolute`` higher in points (the relative test alone would move the best
   grades on tiny changes, the absolute test alone would never move the worst ones); or more than
   ``dpd_backstop`` days past due (30, IFRS 9's rebuttable presumption); or the company is on the
   watch list;
3. stage 1 — otherwise (also when no origination PD is known and no backstop holds: the reason says so).

**Expected credit loss** (:func:`expected_credit_loss`) of one exposure::

    ECL = Σ_{t=1..T} marginal_PD_t × LGD × EAD_t × (1 + EIR)^(−t)

the loss of year *t* discounted from the end of that year at the effective interest rate; *T* is 1 for a
12-month ECL and the remaining term (in whole years) for a lifetime ECL. ``EAD_t`` is the exposure at the
start of year *t*: constant, or amortising in a straight line to zero at the end of the term
(``EAD × (1 − (t − 1) / T)``). Under IFRS 9 stage 1 takes the 12-month ECL and stages 2 and 3 the lifetime
ECL; stage 3's PD is 1 (the whole loss in year 1). Under CECL every exposure takes its lifetime ECL.

**Scenarios**: each scenario gives every company a 12-month PD (the model re-scored on the scenario's macro
inputs) and so a curve; the stage is decided on the scenario-weighted lifetime PD, once, and the ECL is the
weighted sum of the scenarios' ECLs, each shown (:class:`ProvisionResult`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from riskcore.config import ProvisionRules
from riskcore.evaluation.grading import grade_of
from riskcore.evaluation.lifetime import GradeHazards, LifetimeMethod, MigrationMatrix, lifetime_curves

__all__ = ["STAGE_REASONS", "Exposures", "ProvisionResult", "assign_stages", "discount_factors", "ead_profile",
           "expected_credit_loss", "normalised_weights", "provisions", "reweighted", "stage_drivers",
           "stage_movements"]

_BLOCK = 100_000
"""Companies whose lifetime curves are held at once (a curve is a row of years)."""

STAGE_REASONS: dict[str, str] = {
    "defaulted": "in default (the defaulted flag)",
    "dpd_default": "more than {dpd_default} days past due",
    "sicr": "lifetime PD {now:.2%} against {orig:.2%} at origination (+{rel:.0%}, +{abs:.2%} points)",
    "dpd_backstop": "more than {dpd_backstop} days past due",
    "watch_list": "on the watch list",
    "performing": "no significant increase in credit risk since origination",
    "no_origination": "no origination PD to compare with, and no backstop holds",
}
"""The reason of each stage rule (formatted with the company's numbers)."""


@dataclass(frozen=True)
class Exposures:
    """What the provision needs of each exposure besides its PD, one value per company (NaN or False: none).

    ``ead`` exposure at default now; ``lgd`` loss given default; ``eir`` effective interest rate (yearly);
    ``terms`` remaining term in years; ``origination_pd`` the 12-month PD at origination; ``days_past_due``;
    ``watch_list`` and ``defaulted`` flags.
    """

    ead: np.ndarray
    lgd: np.ndarray
    eir: np.ndarray
    terms: np.ndarray
    origination_pd: np.ndarray
    days_past_due: np.ndarray
    watch_list: np.ndarray
    defaulted: np.ndarray

    @classmethod
    def uniform(cls, ead: np.ndarray, rules: ProvisionRules, **columns: np.ndarray) -> Exposures:
        """Exposures with the settings' LGD, EIR and term where ``columns`` give none (NaN cells too)."""
        ead = np.asarray(ead, dtype=float)
        n = len(ead)

        def column(name: str, default: float) -> np.ndarray:
            values = np.asarray(columns.get(name, np.full(n, np.nan)), dtype=float)
            return np.where(np.isnan(values), default, values)

        return cls(ead=ead, lgd=column("lgd", rules.lgd), eir=column("eir", rules.eir),
                   terms=column("terms", rules.term_years),
                   origination_pd=column("origination_pd", np.nan), days_past_due=column("days_past_due", np.nan),
                   watch_list=np.asarray(columns.get("watch_list", np.zeros(n)), dtype=bool),
                   defaulted=np.asarray(columns.get("defaulted", np.zeros(n)), dtype=bool))

    def rows(self, which: slice | np.ndarray) -> Exposures:
        """The exposures of some companies (a slice or positions)."""
        return Exposures(**{f.name: getattr(self, f.name)[which] for f in fields(self)})

    def __post_init__(self) -> None:
        n = len(self.ead)
        for name in ("lgd", "eir", "terms", "origination_pd", "days_past_due", "watch_list", "defaulted"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"exposures: {name} has {len(getattr(self, name))} values for {n} companies")
        checks = (("ead", self.ead, 0.0, np.inf, "an amount of at least 0"),
                  ("lgd", self.lgd, 0.0, 1.0, "a share in [0, 1], e.g. 0.45"),
                  ("eir", self.eir, 0.0, 0.999, "a yearly rate in [0, 1), e.g. 0.05"),
                  ("terms", self.terms, 1.0, 100.0, "a number of years in [1, 100], e.g. 5"))
        for name, values, lo, hi, what in checks:
            bad = np.flatnonzero(~((values >= lo) & (values <= hi)))
            if len(bad):
                raise ValueError(f"{len(bad)} {name} value(s) are missing or outside the range, first at row "
                                 f"{int(bad[0]) + 1}: {float(values[bad[0]])!r}; each must be {what}")


def discount_factors(eir: np.ndarray, horizon: int) -> np.ndarray:
    """(n, horizon) factors ``(1 + eir)^(−t)`` for t = 1 … horizon (the loss of year t at its end)."""
    t = np.arange(1, horizon + 1)
    return np.power(1.0 + np.asarray(eir, dtype=float)[:, None], -t[None, :])


def ead_profile(ead: np.ndarray, terms: np.ndarray, horizon: int, profile: str) -> np.ndarray:
    """(n, horizon) exposure at the start of each year: constant, or straight-line to zero over the term."""
    ead = np.asarray(ead, dtype=float)
    if profile == "constant":
        return np.repeat(ead[:, None], horizon, axis=1)
    if profile != "amortising":
        raise ValueError(f"ead profile {profile!r} is unknown; use constant or amortising")
    years = np.ceil(np.asarray(terms, dtype=float) - 1e-9)
    t = np.arange(horizon)[None, :]
    return ead[:, None] * np.clip(1.0 - t / years[:, None], 0.0, 1.0)


def expected_credit_loss(marginal: np.ndarray, exposures: Exposures, profile: str, *, months: int | None = None
                         ) -> np.ndarray:
    """Each company's ECL: Σ_t marginal PD × LGD × EAD_t × discount factor, over ``months // 12`` years or the curve.

    ``months=12`` gives the 12-month ECL; ``None`` the lifetime ECL (the curve's years, 0 beyond each term).
    """
    horizon = marginal.shape[1] if months is None else min(max(months // 12, 1), marginal.shape[1])
    m = marginal[:, :horizon]
    ead = ead_profile(exposures.ead, exposures.terms, horizon, profile)
    return np.asarray((m * exposures.lgd[:, None] * ead * discount_factors(exposures.eir, horizon)).sum(axis=1))


def assign_stages(lifetime_pd: np.ndarray, origination_lifetime_pd: np.ndarray, exposures: Exposures,
                  rules: ProvisionRules) -> tuple[np.ndarray, np.ndarray]:
    """Each company's stage (1, 2 or 3) and the reason for it (module notes: the first rule that holds wins)."""
    now = np.asarray(lifetime_pd, dtype=float)
    orig = np.asarray(origination_lifetime_pd, dtype=float)
    dpd = exposures.days_past_due
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(orig > 0, now / orig - 1.0, np.inf)
        sicr = (~np.isnan(orig)) & (rel >= rules.sicr_relative) & (now - orig >= rules.sicr_absolute)
        late_default = dpd > rules.dpd_default
        late = dpd > rules.dpd_backstop
    rules_in_order = [
        (exposures.defaulted, 3, STAGE_REASONS["defaulted"]),
        (late_default, 3, STAGE_REASONS["dpd_default"].format(dpd_default=rules.dpd_default)),
        (sicr, 2, None),
        (late, 2, STAGE_REASONS["dpd_backstop"].format(dpd_backstop=rules.dpd_backstop)),
        (exposures.watch_list, 2, STAGE_REASONS["watch_list"]),
        (np.isnan(orig), 1, STAGE_REASONS["no_origination"]),
    ]
    which = np.select([np.asarray(c, dtype=bool) for c, _, _ in rules_in_order], list(range(len(rules_in_order))),
                      default=len(rules_in_order))
    stage = np.array([s for _, s, _ in rules_in_order] + [1], dtype=np.int64)[which]
    reason = np.array([r or "" for _, _, r in rules_in_order] + [STAGE_REASONS["performing"]], dtype=object)[which]
    for i in np.flatnonzero(which == 2):  # the increase in words, with the company's own numbers
        reason[i] = STAGE_REASONS["sicr"].format(now=now[i], orig=orig[i], rel=rel[i], abs=now[i] - orig[i])
    return stage, reason


@dataclass(frozen=True)
class ProvisionResult:
    """A portfolio's stages and expected credit loss, per scenario and weighted.

    Attributes
    ----------
    standard : ``ifrs9`` or ``cecl``.
    weights : scenario name → weight (adding up to 1).
    stage, reason : per company.
    pd_12m, lifetime_pd : scenario-weighted 12-month and lifetime PD (lifetime over the remaining term).
    origination_lifetime_pd : the lifetime PD expected at origination over the same term (NaN: unknown).
    ecl_12m, ecl_lifetime, ecl : scenario name → per-company arrays (``ecl`` is the one the standard and the
        stage take); ``weighted`` is the weighted ECL per company.
    lifetime_by_scenario : scenario name → each company's lifetime PD under it (what :func:`reweighted` stages on).
    exposures : the :class:`Exposures` the result was computed for (the backstops :func:`reweighted` reads).
    """

    standard: str
    weights: dict[str, float]
    stage: np.ndarray
    reason: np.ndarray
    pd_12m: np.ndarray
    lifetime_pd: np.ndarray
    origination_lifetime_pd: np.ndarray
    terms: np.ndarray
    ead: np.ndarray
    ecl_12m: dict[str, np.ndarray]
    ecl_lifetime: dict[str, np.ndarray]
    ecl: dict[str, np.ndarray]
    weighted: np.ndarray
    lifetime_by_scenario: dict[str, np.ndarray] = field(default_factory=dict)
    exposures: Exposures | None = None

    def columns(self) -> dict[str, np.ndarray]:
        """The columns of :meth:`frame`, as the result's own arrays (the grades computed)."""
        out = {"stage": self.stage, "stage_reason": self.reason, "grade": grade_of(self.pd_12m),
               "pd_12m": self.pd_12m, "lifetime_pd": self.lifetime_pd,
               "origination_lifetime_pd": self.origination_lifetime_pd, "term_years": self.terms, "ead": self.ead}
        out.update({f"ecl_{name}": values for name, values in self.ecl.items()})
        out["ecl"] = self.weighted
        return out

    def frame(self) -> pd.DataFrame:
        """Per company: the stage, its reason, the PDs, the term, the exposure and the ECL of each scenario.

        Columns: stage, stage_reason, grade, pd_12m, lifetime_pd, origination_lifetime_pd, term_years, ead,
        ``ecl_<scenario>`` for each scenario, and ``ecl`` (weighted).
        """
        return pd.DataFrame(self.columns())

    def by_stage(self) -> pd.DataFrame:
        """Per stage: companies, ead, ecl (weighted), coverage (ECL / EAD) and each scenario's ECL."""
        f = self.frame()
        cols = {"companies": ("stage", "size"), "ead": ("ead", "sum"), "ecl": ("ecl", "sum"),
                **{f"ecl_{s}": (f"ecl_{s}", "sum") for s in self.ecl}}
        out = f.groupby("stage").agg(**cols).reindex([1, 2, 3], fill_value=0)  # type: ignore[call-overload]
        out.loc["total"] = out.sum()
        out["coverage"] = np.divide(out["ecl"], out["ead"], out=np.zeros(len(out)), where=out["ead"] > 0)
        return out.reset_index()


def provisions(pd_by_scenario: Mapping[str, np.ndarray], weights: Mapping[str, float], exposures: Exposures,
               rules: ProvisionRules, *, method: LifetimeMethod | None = None, hazards: GradeHazards | None = None,
               migration: MigrationMatrix | None = None, standard: str | None = None) -> ProvisionResult:
    """Stages and ECL of a portfolio from each scenario's 12-month PDs (module notes).

    Parameters
    ----------
    pd_by_scenario : scenario name → the model's 12-month PD of each company under that scenario.
    weights : scenario name → weight; the same names, adding up to 1.
    exposures : :class:`Exposures`.
    rules : the ``[provisions]`` settings (SICR thresholds, backstops, EAD profile, standard, method).
    method, standard : override ``rules.method`` / ``rules.standard``.
    hazards, migration : the term structures (``evaluation/lifetime.py``) the method needs.

    Raises
    ------
    ValueError
        When the scenarios and the weights differ, the weights do not add up to 1, or a PD is missing.
    """
    standard = standard or rules.standard
    if standard not in ("ifrs9", "cecl"):
        raise ValueError(f"standard {standard!r} is unknown; use ifrs9 or cecl")
    chosen: LifetimeMethod = method or ("migration" if rules.method == "migration" else "hazard")
    if set(pd_by_scenario) != set(weights) or not weights:
        raise ValueError(f"the scenarios {sorted(pd_by_scenario)} and the weights {sorted(weights)} must name the "
                         "same scenarios")
    total = sum(weights.values())
    if min(weights.values()) < 0 or abs(total - 1.0) > 1e-6:
        raise ValueError(f"the scenario weights {dict(weights)} must be at least 0 and add up to 1")
    n = len(exposures.ead)
    for name, p in pd_by_scenario.items():
        if len(p) != n or np.isnan(np.asarray(p, dtype=float)).any():
            raise ValueError(f"scenario {name!r}: every company needs a PD ({n} expected)")
    # stage 3 rests on the exposure alone (the defaulted flag, days past due), not on any PD
    with np.errstate(invalid="ignore"):
        in_default = exposures.defaulted | (exposures.days_past_due > rules.dpd_default)
    lifetime_by: dict[str, np.ndarray] = {}
    twelve_by: dict[str, np.ndarray] = {}
    ecl_12m: dict[str, np.ndarray] = {}
    ecl_life: dict[str, np.ndarray] = {}
    terms = np.zeros(n, dtype=np.int64)
    for name, p in pd_by_scenario.items():
        p = np.asarray(p, dtype=float)
        life, twelve, e12, elife = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        # the curves of a block of companies at a time: a large portfolio's memory stays flat
        for lo in range(0, n, _BLOCK):
            rows = slice(lo, lo + _BLOCK)
            part = exposures.rows(rows)
            c = lifetime_curves(p[rows], part.terms, chosen, hazards=hazards, migration=migration)
            life[rows], twelve[rows], terms[rows] = c.lifetime, c.twelve_month, c.terms
            marginal = c.marginal
            del c
            gone = in_default[rows]
            marginal[gone] = 0.0
            marginal[gone, 0] = 1.0  # in default: the whole loss, now
            e12[rows] = expected_credit_loss(marginal, part, rules.ead_profile, months=12)
            elife[rows] = expected_credit_loss(marginal, part, rules.ead_profile)
        lifetime_by[name], twelve_by[name], ecl_12m[name], ecl_life[name] = life, twelve, e12, elife
    lifetime = sum(weights[s] * lifetime_by[s] for s in lifetime_by)
    pd_12m = sum(weights[s] * twelve_by[s] for s in twelve_by)
    orig_p = exposures.origination_pd
    known = ~np.isnan(orig_p)
    orig_lifetime = np.full(len(orig_p), np.nan)
    for lo in range(0, n, _BLOCK):
        rows = np.arange(lo, min(lo + _BLOCK, n))[known[lo:lo + _BLOCK]]
        if len(rows):
            orig_lifetime[rows] = lifetime_curves(orig_p[rows], exposures.terms[rows], chosen, hazards=hazards,
                                                  migration=migration).lifetime
    stage, reason = assign_stages(np.asarray(lifetime), orig_lifetime, exposures, rules)
    ecl = {name: ecl_life[name] if standard == "cecl" else np.where(stage == 1, ecl_12m[name], ecl_life[name])
           for name in ecl_life}
    weighted = sum(weights[s] * ecl[s] for s in ecl)
    return ProvisionResult(standard, dict(weights), stage, reason, np.asarray(pd_12m), np.asarray(lifetime),
                           orig_lifetime, terms, exposures.ead, ecl_12m, ecl_life, ecl, np.asarray(weighted),
                           lifetime_by, exposures)


def normalised_weights(weights: Mapping[str, float]) -> tuple[dict[str, float], str | None]:
    """Scenario weights scaled to add up to 1, and a sentence saying so when they did not already.

    Returns
    -------
    tuple of (dict, str or None)
        The weights divided by their sum; ``None`` when they already added up to 1, else the note
        (``the weights added up to 1.3; each was divided by 1.3``).

    Raises
    ------
    ValueError
        When a weight is negative or not a number, or every weight is 0 (nothing to divide by).
    """
    values = {name: float(w) for name, w in weights.items()}
    bad = {name: w for name, w in values.items() if not np.isfinite(w) or w < 0}
    if bad:
        raise ValueError(f"scenario weights {bad} must be numbers of at least 0, e.g. 0.5")
    total = sum(values.values())
    if not values or total <= 0:
        raise ValueError(f"the scenario weights {values} add up to 0; give at least one scenario a weight above 0")
    if abs(total - 1.0) <= 1e-9:
        return values, None
    scaled = {name: w / total for name, w in values.items()}
    return scaled, (f"the weights added up to {total:.4g}, not 1; each was divided by {total:.4g}: "
                    + ", ".join(f"{name} {w:.1%}" for name, w in scaled.items()))


def reweighted(result: ProvisionResult, weights: Mapping[str, float], rules: ProvisionRules, *,
               standard: str | None = None) -> ProvisionResult:
    """The same provisions under other scenario weights (or the other standard), without re-scoring anything.

    Each scenario's 12-month and lifetime ECL per company are kept; the stages are decided again on the
    newly weighted lifetime PD (the backstops and stage 3 do not depend on the weights) and the ECL is
    the new weighted sum. Milliseconds for a portfolio: what a slider needs.

    Parameters
    ----------
    result : from :func:`provisions` (it carries each scenario's lifetime PDs and the exposures).
    weights : scenario name → weight, the result's scenarios, adding up to 1 (:func:`normalised_weights`).
    rules : the ``[provisions]`` settings (the SICR thresholds).
    standard : ``ifrs9`` or ``cecl`` (default: the result's).

    Raises
    ------
    ValueError
        When the weights name other scenarios or do not add up to 1, the standard is unknown, or the result
        was made without its scenarios' lifetime PDs.
    """
    standard = standard or result.standard
    if standard not in ("ifrs9", "cecl"):
        raise ValueError(f"standard {standard!r} is unknown; use ifrs9 or cecl")
    if set(weights) != set(result.ecl):
        raise ValueError(f"the weights {sorted(weights)} must name the result's scenarios {sorted(result.ecl)}")
    if min(weights.values()) < 0 or abs(sum(weights.values()) - 1.0) > 1e-6:
        raise ValueError(f"the scenario weights {dict(weights)} must be at least 0 and add up to 1")
    if result.exposures is None or set(result.lifetime_by_scenario) != set(result.ecl):
        raise ValueError("this provisions result holds no lifetime PD per scenario; compute it again with provisions()")
    lifetime = np.asarray(sum(weights[s] * result.lifetime_by_scenario[s] for s in result.ecl))
    stage, reason = assign_stages(lifetime, result.origination_lifetime_pd, result.exposures, rules)
    ecl = {s: result.ecl_lifetime[s] if standard == "cecl" else np.where(stage == 1, result.ecl_12m[s],
                                                                           result.ecl_lifetime[s])
           for s in result.ecl}
    weighted = np.asarray(sum(weights[s] * ecl[s] for s in ecl))
    return replace(result, standard=standard, weights=dict(weights), stage=stage, reason=reason, lifetime_pd=lifetime,
                   ecl=ecl, weighted=weighted)


_SICR_DRIVER = "significant increase in lifetime PD since origination"


def stage_drivers(stage: np.ndarray, reason: np.ndarray, ecl: np.ndarray, ead: np.ndarray,
                  at_stage: int = 2) -> pd.DataFrame:
    """Why companies are in a stage: companies, EAD and ECL by the rule that put them there, most first.

    Returns
    -------
    pandas.DataFrame
        ``driver`` (the rule, in words; each company's own numbers dropped), ``companies``, ``ead``, ``ecl``,
        ``share`` (of the stage's companies); no row when no company is in the stage.
    """
    sel = np.asarray(stage) == at_stage
    reasons = pd.Series(np.asarray(reason, dtype=object)[sel], dtype=object)
    sicr_prefix = STAGE_REASONS["sicr"].split("{")[0]
    drivers = reasons.map(lambda r: _SICR_DRIVER if str(r).startswith(sicr_prefix) else str(r))
    frame = pd.DataFrame({"driver": drivers.to_numpy(), "ead": np.asarray(ead, dtype=float)[sel],
                          "ecl": np.asarray(ecl, dtype=float)[sel]})
    out = frame.groupby("driver").agg(companies=("driver", "size"), ead=("ead", "sum"), ecl=("ecl", "sum"))
    out = out.sort_values("companies", ascending=False).reset_index()
    out["share"] = out["companies"] / max(int(sel.sum()), 1)
    return out


def stage_movements(previous: pd.DataFrame, current: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Companies and ECL moving between stages from one run to the next (a provisions waterfall's parts).

    Parameters
    ----------
    previous, current : per company ``id_column``, ``stage`` and ``ecl`` (two runs' ``companies`` tables).

    Returns
    -------
    pandas.DataFrame
        ``from_stage``, ``to_stage``, ``companies``, ``ecl_before``, ``ecl_after``, ``ecl_change``: one row per
        pair seen; ``from_stage`` is ``new`` for a company only in ``current``, ``to_stage`` ``gone`` for one
        only in ``previous`` (repaid, sold or written off).

    Raises
    ------
    ValueError
        When either table lacks the id, ``stage`` or ``ecl`` column.
    """
    for name, table in (("previous", previous), ("current", current)):
        missing = [c for c in (id_column, "stage", "ecl") if c not in table]
        if missing:
            raise ValueError(f"the {name} run has no column {', '.join(map(repr, missing))}; give a provisions run's "
                             "companies.csv")
    before = previous[[id_column, "stage", "ecl"]].astype({id_column: str}).drop_duplicates(id_column)
    after = current[[id_column, "stage", "ecl"]].astype({id_column: str})
    both = before.merge(after, on=id_column, how="outer", suffixes=("_before", "_after"))
    both["from_stage"] = both["stage_before"].map(lambda v: "new" if pd.isna(v) else str(int(v)))
    both["to_stage"] = both["stage_after"].map(lambda v: "gone" if pd.isna(v) else str(int(v)))
    both[["ecl_before", "ecl_after"]] = both[["ecl_before", "ecl_after"]].fillna(0.0)
    out = both.groupby(["from_stage", "to_stage"]).agg(companies=(id_column, "size"), ecl_before=("ecl_before", "sum"),
                                                        ecl_after=("ecl_after", "sum")).reset_index()
    out["ecl_change"] = out["ecl_after"] - out["ecl_before"]
    return out
