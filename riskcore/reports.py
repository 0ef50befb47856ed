"""Portfolio-level views the dashboard pages show, computed here so they can be tested.

Every function takes the scored hold-out rows of a bundle (``ModelBundle.holdout()``:
validation and test rows with ``y``, ``p_default`` and the raw features) or a
scored portfolio, and returns plain data. The honest protocol is kept
throughout: a cut-off is chosen on the **validation** rows under the user's
costs, and its consequences are measured on the **test** rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs
from riskcore.costs import BusinessImpact, CostSweep, business_impact
from riskcore.grading import PD_FLOOR

__all__ = ["DecisionView", "decision_view", "esg_band_table", "expected_loss_by_segment", "impact_sentences",
           "part"]


def part(holdout: pd.DataFrame, name: str) -> pd.DataFrame:
    """The ``validation`` or ``test`` rows of a hold-out frame."""
    return holdout[holdout["part"] == name].reset_index(drop=True)


def _exposure(frame: pd.DataFrame, exposure: str | None, costs: Costs) -> np.ndarray | None:
    if costs.mode != "exposure":
        return None
    if not exposure or exposure not in frame:
        return None
    return np.nan_to_num(frame[exposure].to_numpy(dtype=float), nan=0.0)


@dataclass(frozen=True)
class DecisionView:
    """The consequences of a cut-off under a pair of costs.

    ``optimal_threshold`` minimises cost on validation; ``threshold`` is the one
    in force (the optimal one unless overridden); ``impact`` is measured on test.
    """

    costs: Costs
    threshold: float
    optimal_threshold: float
    overridden: bool
    impact: BusinessImpact
    validation_cost: float
    test_rows: int
    test_defaults: int
    portfolio_expected_loss: float | None

    @property
    def confusion(self) -> pd.DataFrame:
        """2 × 2 table: rows actual (default / no default), columns decision (refer / accept)."""
        i = self.impact
        return pd.DataFrame([[i.defaults_caught, i.defaults_missed], [i.false_alarms,
                                                                      self.test_rows - self.test_defaults
                                                                      - i.false_alarms]],
                            index=["defaulted", "repaid"], columns=["refer", "accept"])


def decision_view(
    holdout: pd.DataFrame,
    costs: Costs,
    *,
    threshold: float | None = None,
    exposure: str | None = None,
    sweep: CostSweep | None = None,
) -> DecisionView:
    """Choose the cut-off on validation (unless ``threshold`` is given) and measure it on test.

    Parameters
    ----------
    holdout : a bundle's hold-out frame (``part``, ``y``, ``p_default`` …).
    costs : the costs in force.
    threshold : a manual cut-off; ``None`` uses the cost-optimal one.
    exposure : the exposure column, used in ``exposure`` cost mode and for expected loss.
    sweep : a cached :class:`CostSweep` of the validation rows (built when omitted).
    """
    val, test = part(holdout, "validation"), part(holdout, "test")
    if sweep is None:
        sweep = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy(), _exposure(val, exposure, costs))
    best, best_cost = sweep.optimal(costs)
    chosen = best if threshold is None else float(threshold)
    val_cost = best_cost if threshold is None else sweep.at(chosen, costs).cost
    impact = business_impact(test["y"].to_numpy(), test["p_default"].to_numpy(), chosen, costs,
                             exposure=_exposure(test, exposure, costs))
    el = None
    if exposure and exposure in test:
        ead = np.nan_to_num(test[exposure].to_numpy(dtype=float), nan=0.0)
        el = float(np.sum(np.maximum(test["p_default"].to_numpy(), PD_FLOOR) * costs.lgd * ead))
    return DecisionView(costs=costs, threshold=chosen, optimal_threshold=float(best),
                        overridden=threshold is not None, impact=impact, validation_cost=float(val_cost),
                        test_rows=len(test), test_defaults=int(test["y"].sum()), portfolio_expected_loss=el)


def _money(x: float) -> str:
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.1f} million"
    return f"{x:,.0f}"


def impact_sentences(view: DecisionView, currency: str = "EUR") -> list[str]:
    """A few plain sentences for executives: what the model saves, at what cost, how sure we are."""
    i = view.impact
    c = view.costs
    fn = "the loss given default times the exposure" if c.mode == "exposure" else f"{currency} {_money(c.fn)}"
    out = [
        f"On the {view.test_rows:,} most recent company-years the model never saw in training, "
        f"{view.test_defaults:,} companies defaulted. Without the model, every one of them would have been "
        f"financed: an expected loss of {currency} {_money(i.loss_without_model)} (each missed default costs {fn}).",
        f"Referring the {i.referred:,} companies with a PD of {view.threshold:.1%} or more for review catches "
        f"{i.defaults_caught:,} of the {view.test_defaults:,} defaults ({i.defaults_caught / max(view.test_defaults, 1):.0%})"
        f" and raises {i.false_alarms:,} false alarms at {currency} {_money(c.fp)} each.",
        f"Net of those false alarms the loss falls to {currency} {_money(i.loss_with_model)}: a saving of "
        f"{currency} {_money(i.savings)}, or {i.savings_pct:.0%}.",
    ]
    if i.top_decile_lift == i.top_decile_lift:
        out.append(f"The riskiest tenth of the portfolio holds {i.top_decile_lift:.1f}× the average default rate, "
                   "so reviews go where the risk is.")
    if view.overridden:
        out.append(f"The cut-off was set by hand; at these costs the cost-optimal cut-off on the validation year "
                   f"would be {view.optimal_threshold:.1%}.")
    else:
        out.append("The cut-off is the one that minimises cost on the validation year at these costs; "
                   "the figures above are measured on the later test year, so they are not flattered by the choice.")
    return out


def esg_band_table(frame: pd.DataFrame, *, segment: str, esg_columns: list[str], p_col: str = "p_default",
                   y_col: str | None = "y", n_bands: int = 3) -> pd.DataFrame:
    """Mean PD (and observed default rate) by ESG band within each segment.

    The ESG score of a row is the mean of ``esg_columns``; bands are its
    quantiles within the segment (``low``, ``mid``, ``high`` for three).
    Rows without ESG form their own band ``missing``. Columns: segment, band,
    companies, mean_pd, observed_rate.
    """
    labels = {3: ["low", "mid", "high"], 2: ["low", "high"]}.get(n_bands, [f"Q{i + 1}" for i in range(n_bands)])
    cols = [c for c in esg_columns if c in frame]
    score = frame[cols].mean(axis=1) if cols else pd.Series(np.nan, index=frame.index)
    band = pd.Series("missing", index=frame.index, dtype=object)
    for seg, idx in frame.groupby(segment).groups.items():
        s = score.loc[idx].dropna()
        if len(s) >= n_bands:
            band.loc[s.index] = pd.qcut(s.rank(method="first"), n_bands, labels=labels).astype(str)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "band": band.to_numpy(),
                       "p": frame[p_col].to_numpy()})
    agg: dict[str, Any] = {"companies": ("p", "size"), "mean_pd": ("p", "mean")}
    if y_col and y_col in frame:
        df["y"] = frame[y_col].to_numpy()
        agg["observed_rate"] = ("y", "mean")
    out = df.groupby(["segment", "band"]).agg(**agg).reset_index()
    if "observed_rate" not in out:
        out["observed_rate"] = np.nan
    order = {b: i for i, b in enumerate(labels + ["missing"])}
    return out.sort_values(["segment", "band"], key=lambda s: s.map(order) if s.name == "band" else s) \
        .reset_index(drop=True)


def expected_loss_by_segment(frame: pd.DataFrame, *, segment: str, exposure: str | None, lgd: float,
                             p_col: str = "p_default") -> pd.DataFrame:
    """Companies, exposure, expected loss and mean PD per segment (largest expected loss first)."""
    p = np.maximum(frame[p_col].to_numpy(dtype=float), PD_FLOOR)
    ead = frame[exposure].to_numpy(dtype=float) if exposure and exposure in frame else np.full(len(frame), np.nan)
    df = pd.DataFrame({"segment": frame[segment].to_numpy(), "p": p, "ead": ead, "el": p * lgd * ead})
    out = df.groupby("segment").agg(companies=("p", "size"), exposure=("ead", "sum"), expected_loss=("el", "sum"),
                                    mean_pd=("p", "mean")).reset_index()
    return out.sort_values("expected_loss", ascending=False).reset_index(drop=True)
