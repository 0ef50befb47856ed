"""What scoring a file returns: the scored and rejected rows, and counts that add up chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.tabular import ReadInfo
from riskcore.evaluation.grading import MASTER_SCALE, grade_index

__all__ = ["ScoreResult", "ScoreTally"]


@dataclass
class ScoreResult:
    """Scored rows, rejected rows, and what a credit officer should know about the file."""

    scores: pd.DataFrame
    rejects: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    info: ReadInfo | None = None
    n_rows: int = 0
    model_version: str = ""
    id_column: str = "id"
    scenario_pd: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Scenario name → the PD of each row of ``scores`` under it (NaN for rows outside its year), when asked."""
    _inputs: pd.DataFrame | None = field(default=None, repr=False)
    _inputs_from: tuple[pd.DataFrame, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def inputs(self) -> pd.DataFrame:
        """Typed model inputs of the scored rows (keys, features, exposure, name), in the order of ``scores``.

        Built on first use: a million-row file need not hold a second copy of its inputs
        unless something (the audit trail, a chart) asks for them.
        """
        if self._inputs is None:
            if self._inputs_from is None:
                self._inputs = pd.DataFrame()
            else:
                frame, idx = self._inputs_from
                self._inputs = frame.iloc[idx].reset_index(drop=True)
                self._inputs_from = None
        return self._inputs

    def __getstate__(self) -> dict[str, Any]:
        """Pickle with the inputs built (the typed frame they come from is not kept)."""
        self.inputs  # noqa: B018 - builds them
        return dict(self.__dict__)

    @property
    def n_scored(self) -> int:
        """Rows scored."""
        return int(len(self.scores))

    @property
    def n_rejected(self) -> int:
        """Distinct rows rejected."""
        return int(self.rejects["row"].nunique()) if len(self.rejects) else 0

    def tally(self) -> ScoreTally:
        """The counts behind :meth:`summary`; tallies of several chunks add up to the whole file's."""
        tally = ScoreTally()
        tally.add(self)
        return tally

    def grade_distribution(self) -> pd.DataFrame:
        """grade, companies, share, mean_pd — in master-scale order."""
        return self.tally().grade_distribution()

    def summary(self) -> str:
        """Plain-text summary: scored, rejected, decisions, grades, expected loss."""
        return self.tally().summary(self.rejects, self.notes, self.model_version)


@dataclass
class ScoreTally:
    """Counts of a scored file that add up chunk by chunk: rows, decisions, grades, expected loss.

    A file scored in chunks keeps one tally instead of every score, so its summary costs
    no memory that grows with the file.
    """

    n_rows: int = 0
    n_scored: int = 0
    n_refer: int = 0
    sum_pd: float = 0.0
    grade_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(MASTER_SCALE), dtype=np.int64))
    grade_pd: np.ndarray = field(default_factory=lambda: np.zeros(len(MASTER_SCALE)))
    expected_loss: float = 0.0
    has_expected_loss: bool = False

    def add(self, result: ScoreResult) -> None:
        """Add one (chunk's) result."""
        scores = result.scores
        self.n_rows += result.n_rows
        self.n_scored += len(scores)
        if not len(scores):
            return
        p = scores["p_default"].to_numpy(dtype=float)
        self.n_refer += int((scores["decision"] == "refer").sum())
        self.sum_pd += float(p.sum())
        graded = scores["p_default_ttc"].to_numpy(dtype=float) if "p_default_ttc" in scores else p
        g = grade_index(graded)
        self.grade_counts += np.bincount(g, minlength=len(MASTER_SCALE))
        self.grade_pd += np.bincount(g, weights=graded, minlength=len(MASTER_SCALE))
        el = scores["expected_loss"].to_numpy(dtype=float)
        if np.isfinite(el).any():
            self.has_expected_loss = True
            self.expected_loss += float(np.nansum(el))

    def grade_distribution(self) -> pd.DataFrame:
        """grade, companies, share, mean_pd — in master-scale order."""
        counts = self.grade_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_pd = np.where(counts > 0, self.grade_pd / np.maximum(counts, 1), np.nan)
        out = pd.DataFrame({"grade": [g.name for g in MASTER_SCALE], "companies": counts.astype(int),
                            "mean_pd": mean_pd})
        out["share"] = out["companies"] / max(int(counts.sum()), 1)
        return out

    def summary(self, rejects: pd.DataFrame, notes: list[str], model_version: str) -> str:
        """Plain-text summary: scored, rejected, decisions, grades, expected loss."""
        n_rejected = int(rejects["row"].nunique()) if len(rejects) else 0
        lines = [f"Scored {self.n_scored:,} of {self.n_rows:,} rows with model {model_version}; "
                 f"rejected {n_rejected:,}."]
        if self.n_scored:
            refer = self.n_refer
            lines.append(f"Decisions: {self.n_scored - refer:,} accept, {refer:,} refer "
                         f"({refer / self.n_scored:.1%}). Mean PD {self.sum_pd / self.n_scored:.2%}.")
            dist = self.grade_distribution()
            lines.append("Grades: " + ", ".join(f"{g}: {n:,}" for g, n in zip(dist["grade"], dist["companies"]) if n))
            if self.has_expected_loss:
                lines.append(f"Total expected loss (PD × LGD × exposure): {self.expected_loss:,.0f}")
        if n_rejected:
            top = rejects.fillna({"column": "(whole row)"}).groupby("column")["row"].nunique() \
                .sort_values(ascending=False).head(5)
            lines.append("Rejected rows by column: " + ", ".join(f"{c} ({n})" for c, n in top.items())
                         + " — see the reject report for each row's problem and what to do")
        for n in notes:
            lines.append(f"Note: {n}")
        return "\n".join(lines)
