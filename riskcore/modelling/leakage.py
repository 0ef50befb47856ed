"""The leakage checklist as code.

Each check returns pass, warn or fail with its evidence:

(a) ``preprocessing`` — every fitted preprocessing step of a pipeline behaves
    exactly like a copy fitted on the training rows only (and measurably unlike a
    copy fitted on all rows);
(b) ``too_good`` — a column (its values, its missingness or its categories) that
    separates the classes almost perfectly on the training rows (AUC above 0.90 or
    below 0.10); ``signal_share`` — a column that alone carries about as much signal as
    a quick model on all the other columns; ``post_event`` — columns the spec marks as
    known only after the outcome, or whose names suggest it;
(c) ``key_overlap`` — the same id and period in two parts; ``period_order`` — in an
    out-of-time split, test periods strictly after the training periods;
(d) ``shift`` — train-versus-test distribution shift per feature (PSI and KS),
    warned above PSI 0.25.

A perfect-looking model (the AUC 0.999 of a target-encoded sector, or a renamed
true PD left in the data) fails (b).

Columns the spec keeps out of the features — post-event columns and text with too
many levels (``spec.post_event``, ``spec.never``, except the demo's oracle) — are
tested by (b) as well when they are in the frame: an outcome left in the file (the
amount lost, the date of the loss) is named even though no model would use it.

The evidence is computed in :mod:`riskcore.modelling.signal` (single-column AUCs, the
quick model of (b)) and :mod:`riskcore.evaluation.shift` (PSI and KS of (d)); this
module turns it into findings.

The checks never raise on awkward data (all-missing or single-value columns, text
with thousands of levels, one class only, a ten-row file, near-empty periods):
a check that cannot be computed is reported with status ``skip`` and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.drift import PSI_ACT
from riskcore.evaluation.shift import shift_table
from riskcore.modelling.signal import feature_aucs, quick_model_auc
from riskcore.modelling.split import Split

__all__ = [
    "LeakageFinding",
    "LeakageReport",
    "Status",
    "candidate_columns",
    "check_preprocessing",
    "run_leakage_checks",
]

Status = Literal["pass", "warn", "fail", "skip"]
TOO_GOOD_AUC = 0.90
SIGNAL_SHARE_FAIL = 0.90
SIGNAL_SHARE_WARN = 0.85
# a column must also be strong on its own to fail: with few weak features one
# honest driver can outweigh the rest, but an honest single credit signal rarely
# separates defaults with AUC 0.80 or more
SIGNAL_STRONG_AUC = 0.80
PSI_WARN = PSI_ACT
_POST_EVENT_WORDS = re.compile(
    r"(recover|write.?off|charge.?off|collection|delinquen|arrear|bankrupt|insolven|liquidat|"
    r"default_?(date|flag|status|amount)|loss_given|days_past_due|dpd|outcome|workout)", re.IGNORECASE)


@dataclass(frozen=True)
class LeakageFinding:
    """The result of one check: status, a sentence of evidence, the columns involved.

    ``skip`` means the check could not be computed on this data; ``detail`` says why.
    """

    check: str
    status: Status
    detail: str
    columns: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``metrics.json``."""
        return {"check": self.check, "status": self.status, "detail": self.detail, "columns": list(self.columns)}


@dataclass
class LeakageReport:
    """All findings plus the per-feature evidence tables.

    ``feature_auc``: column, kind, auc, auc_missing, rows; ``shift``: column, psi, ks, status.
    """

    findings: list[LeakageFinding]
    feature_auc: pd.DataFrame = field(default_factory=pd.DataFrame)
    shift: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failed(self) -> list[LeakageFinding]:
        """Findings with status ``fail``."""
        return [f for f in self.findings if f.status == "fail"]

    @property
    def failed_columns(self) -> tuple[str, ...]:
        """Columns named by failing findings."""
        return tuple(dict.fromkeys(c for f in self.failed for c in f.columns))

    def frame(self) -> pd.DataFrame:
        """Findings as a table: check, status, columns, detail."""
        return pd.DataFrame([{"check": f.check, "status": f.status, "columns": ", ".join(f.columns),
                              "detail": f.detail} for f in self.findings],
                            columns=["check", "status", "columns", "detail"])

    def to_text(self) -> str:
        """The checklist as plain text."""
        lines = ["Leakage checks:"]
        for f in self.findings:
            lines.append(f"  {f.status.upper():4s}  {f.check}: {f.detail}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# (b) single-feature signal
# ---------------------------------------------------------------------------

def _too_good_finding(aucs: pd.DataFrame, features: list[str]) -> tuple[LeakageFinding, list[str]]:
    """Check (b) ``too_good``: a column whose values or missingness alone reach AUC above 0.90 (or below 0.10).

    Returns the finding and the columns it names.
    """
    too_good: list[tuple[str, str, float]] = []
    for col, auc, auc_missing in zip(aucs["column"].astype(str), aucs["auc"].to_numpy(dtype=float),
                                     aucs["auc_missing"].to_numpy(dtype=float), strict=True):
        for what, a in (("values", float(auc)), ("missingness", float(auc_missing))):
            if a == a and (a > TOO_GOOD_AUC or a < 1 - TOO_GOOD_AUC):
                too_good.append((col, what, a))
    named = list(dict.fromkeys(c for c, _, _ in too_good))
    if not too_good:
        top = aucs.sort_values("strength", ascending=False).head(1)
        best = (f"; strongest single column {top['column'].iloc[0]!r} has AUC "
                f"{0.5 + float(top['strength'].iloc[0]):.3f}" if len(top) else "")
        return LeakageFinding("too_good", "pass",
                              f"no column separates the classes with AUC above {TOO_GOOD_AUC:.2f}{best}"), named
    outside = [c for c in named if c not in features]
    # an AUC far below 0.5 separates as well as one far above it, the other way round: say so plainly
    text = "; ".join(f"{c!r} ({w}) alone has AUC {a:.3f}" if a >= 0.5 else
                     f"{c!r} ({w}) alone has AUC {a:.3f}, i.e. {1 - a:.3f} read the other way round"
                     for c, w, a in too_good)
    if outside:
        text += (f" ({', '.join(map(repr, outside))} {'is' if len(outside) == 1 else 'are'} kept out of the "
                 "features but in the file)")
    return LeakageFinding(
        "too_good", "fail",
        f"{text} on training rows — no single fact separates defaults this well unless it was recorded after "
        "the outcome. Drop the column (--drop) or, if it is truly known before the outcome, use --allow-leaks.",
        tuple(named)), named


_ShareRow = tuple[str, float, float, float]  # column, its AUC alone, AUC of a model on the rest, share


def _signal_shares(frame: pd.DataFrame, y: np.ndarray, aucs: pd.DataFrame, exclude: list[str], features: list[str],
                   groups: np.ndarray, random_state: int) -> tuple[list[_ShareRow], list[str]]:
    """The three strongest columns (not already too good) against a quick model on all the others.

    A column's near-copies (rank correlation above 0.95) are left out of "the
    others", or a duplicated leak would hide itself. Returns the compared rows and
    the reasons a column could not be compared.
    """
    candidates = aucs[(aucs["strength"] >= 0.2) & ~aucs["column"].isin(exclude)]
    candidates = candidates.sort_values("strength", ascending=False).head(3)
    share_rows: list[_ShareRow] = []
    skipped: list[str] = []
    if not len(candidates):
        return share_rows, skipped
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    ranks = frame[numeric].rank() if numeric else pd.DataFrame()
    for column, strength in zip(candidates["column"].astype(str), candidates["strength"].to_numpy(dtype=float),
                                strict=True):
        near: set[str] = set()
        if column in ranks:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = ranks.corrwith(ranks[column]).abs()
            near = {str(c) for c in corr[corr > 0.95].index}
        rest = [c for c in features if c != column and c not in near]
        if not rest:
            skipped.append(f"{column!r}: no other column to compare with")
            continue
        rest_auc, why = quick_model_auc(frame, y, rest, groups, random_state)
        if rest_auc != rest_auc:
            skipped.append(f"{column!r}: {why}")
            continue
        share_rows.append((column, 0.5 + float(strength), rest_auc, float(strength) / max(rest_auc - 0.5, 1e-6)))
    return share_rows, skipped


def _signal_share_finding(share_rows: list[_ShareRow], skipped: list[str], n_columns: int) -> LeakageFinding:
    """Check (b) ``signal_share``: one column carrying about as much signal as a model on all the others."""
    fails = [s for s in share_rows if s[3] >= SIGNAL_SHARE_FAIL and s[1] >= SIGNAL_STRONG_AUC]
    warns = [s for s in share_rows if s[3] >= SIGNAL_SHARE_WARN and s not in fails]
    if fails:
        text = "; ".join(f"{c!r} alone reaches AUC {a:.3f} while a model on all {n_columns - 1} other columns "
                         f"reaches {ra:.3f}" for c, a, ra, _ in fails)
        return LeakageFinding(
            "signal_share", "fail",
            f"{text} — one column carrying as much signal as everything else is the signature of a leaked "
            "outcome (or of a score computed from it). Drop it (--drop) or confirm it with --allow-leaks.",
            tuple(c for c, *_ in fails))
    if warns:
        text = "; ".join(f"{c!r}: AUC {a:.3f} alone vs {ra:.3f} for all others" for c, a, ra, _ in warns)
        return LeakageFinding("signal_share", "warn", f"{text}; check that it is known before the outcome",
                              tuple(c for c, *_ in warns))
    if skipped and not share_rows:
        return LeakageFinding("signal_share", "skip",
                              "the strongest columns could not be compared with a model on the others ("
                              + "; ".join(skipped) + ")")
    detail = ("no column carries as much signal as the others together" +
              ("; " + "; ".join(f"{c!r} {a:.3f} alone vs {ra:.3f} for the rest ({s:.0%} of it)"
                                for c, a, ra, s in share_rows) if share_rows else ""))
    return LeakageFinding("signal_share", "pass", detail)


def _too_good_checks(frame: pd.DataFrame, y: np.ndarray, columns: list[str], groups: np.ndarray,
                     random_state: int, max_rows: int = 15_000,
                     features: list[str] | None = None) -> tuple[list[LeakageFinding], pd.DataFrame]:
    """Checks (b) ``too_good`` and ``signal_share`` on the training rows (at most ``max_rows`` of them)."""
    features = columns if features is None else features
    rng = np.random.default_rng(random_state)
    if len(frame) > max_rows:
        keep = np.sort(rng.choice(len(frame), max_rows, replace=False))
        frame, y, groups = frame.iloc[keep].reset_index(drop=True), y[keep], groups[keep]
    aucs = feature_aucs(frame, y, columns, groups=groups, random_state=random_state)
    too_good, named = _too_good_finding(aucs, features)
    share_rows, skipped = _signal_shares(frame, y, aucs, named, features, groups, random_state)
    return [too_good, _signal_share_finding(share_rows, skipped, len(columns))], aucs


def _post_event_check(spec: DatasetSpec, columns: list[str]) -> LeakageFinding:
    marked = [c for c in columns if c in spec.post_event or c in spec.never]
    if marked:
        return LeakageFinding("post_event", "fail",
                              f"columns {marked!r} are marked as known only after the outcome (or never a feature) "
                              "but are among the features", tuple(marked))
    named = [c for c in columns if _POST_EVENT_WORDS.search(c)]
    if named:
        return LeakageFinding("post_event", "warn",
                              f"the names of {named!r} suggest information recorded after a default "
                              "(recoveries, arrears, collections); confirm they are known at scoring time or drop them",
                              tuple(named))
    excluded = [c for c in spec.post_event + spec.never]
    ex = f"; {excluded!r} excluded by the spec" if excluded else ""
    return LeakageFinding("post_event", "pass", f"no feature is marked or named as post-event{ex}")


# ---------------------------------------------------------------------------
# (c) keys and periods
# ---------------------------------------------------------------------------

def _key_checks(frame: pd.DataFrame, spec: DatasetSpec, split: Split) -> list[LeakageFinding]:
    findings = []
    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    key_cols = [c for c in spec.key_columns if c in frame]
    if key_cols:
        keys = {name: set(map(tuple, frame.iloc[idx][key_cols].astype(str).to_numpy())) for name, idx in parts.items()}
        overlaps = []
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            both = keys[a] & keys[b]
            if both:
                shown = ", ".join(" ".join(k) for k in sorted(both)[:5])
                overlaps.append(f"{len(both)} key(s) in both {a} and {b} (e.g. {shown})")
        if overlaps:
            findings.append(LeakageFinding("key_overlap", "fail", "; ".join(overlaps) +
                                           " — the same company-period must not be in two parts; remove duplicates",
                                           tuple(key_cols)))
        else:
            findings.append(LeakageFinding("key_overlap", "pass",
                                           f"no {' + '.join(key_cols)} key appears in two parts"))
        if split.mode == "stratified" and spec.id and spec.id in frame:
            ids = {name: set(frame.iloc[idx][spec.id].astype(str)) for name, idx in parts.items()}
            shared = (ids["train"] & ids["test"]) | (ids["train"] & ids["validation"])
            if shared:
                findings.append(LeakageFinding(
                    "company_overlap", "warn",
                    f"{len(shared)} companies have rows in training and in validation/test; their other years "
                    "help the model recognise them", (spec.id,)))
    else:
        findings.append(LeakageFinding("key_overlap", "pass", "no id column: rows are split individually"))
    empty = [name for name, idx in parts.items() if len(idx) == 0]
    if split.mode == "out_of_time" and spec.time and spec.time in frame and empty:
        findings.append(LeakageFinding("period_order", "skip",
                                       f"the {' and '.join(empty)} part(s) have no rows, so there is no period order "
                                       "to check; more periods are needed for an out-of-time split"))
    elif split.mode == "out_of_time" and spec.time and spec.time in frame:
        t = frame[spec.time]
        tr_max = t.iloc[split.train].max()
        va_min, va_max = t.iloc[split.validation].min(), t.iloc[split.validation].max()
        te_min = t.iloc[split.test].min()
        if tr_max < va_min and va_max < te_min:
            findings.append(LeakageFinding("period_order", "pass",
                                           f"training periods end at {_fmt(tr_max)}, validation covers "
                                           f"{_fmt(va_min)}–{_fmt(va_max)}, test starts at {_fmt(te_min)}"))
        else:
            findings.append(LeakageFinding("period_order", "fail",
                                           f"periods overlap: training ends {_fmt(tr_max)}, validation starts "
                                           f"{_fmt(va_min)}, test starts {_fmt(te_min)}", (spec.time,)))
    elif split.mode == "stratified":
        findings.append(LeakageFinding("period_order", "pass" if not spec.time else "warn",
                                       "stratified split: no period order to check"
                                       + (f" ({split.note})" if split.note else "")))
    return findings


def _fmt(v: object) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, pd.Timestamp):
        return str(v.date())
    return str(v)


# ---------------------------------------------------------------------------
# (d) shift
# ---------------------------------------------------------------------------

def _shift_check(frame: pd.DataFrame, columns: list[str], split: Split) -> tuple[LeakageFinding, pd.DataFrame]:
    """Check (d): features distributed differently in test than in training (PSI above 0.25)."""
    tr, te = frame.iloc[split.train], frame.iloc[split.test]
    if len(tr) == 0 or len(te) == 0:
        return (LeakageFinding("shift", "skip", "the training or the test part has no rows: no shift to measure"),
                pd.DataFrame(columns=["column", "psi", "ks", "status"]))
    table = shift_table(tr, te, columns, PSI_WARN)
    shifted = table[table["status"] == "warn"]
    if len(shifted):
        text = ", ".join(f"{c!r} (PSI {p:.2f})" for c, p in zip(shifted["column"][:8], shifted["psi"][:8]))
        more = f" and {len(shifted) - 8} more" if len(shifted) > 8 else ""
        finding = LeakageFinding(
            "shift", "warn",
            f"{len(shifted)} feature(s) are distributed differently in test than in training: {text}{more}. "
            "Expected for macro series in an out-of-time split; elsewhere it can mean a changed definition.",
            tuple(shifted["column"]))
    else:
        top = table.head(1)
        finding = LeakageFinding("shift", "pass",
                                 f"no feature has PSI above {PSI_WARN}" +
                                 (f"; largest {top['column'].iloc[0]!r} ({top['psi'].iloc[0]:.2f})"
                                  if len(top) else ""))
    return finding, table


# ---------------------------------------------------------------------------
# (a) preprocessing
# ---------------------------------------------------------------------------

def _transform_max_diff(a: Any, b: Any, X: Any) -> float:
    ta = a.transform(X)
    tb = b.transform(X)
    ta = ta.to_numpy(dtype=float) if hasattr(ta, "to_numpy") else np.asarray(ta, dtype=float)
    tb = tb.to_numpy(dtype=float) if hasattr(tb, "to_numpy") else np.asarray(tb, dtype=float)
    if ta.shape != tb.shape:
        return float("inf")
    both_nan = np.isnan(ta) & np.isnan(tb)
    d = np.abs(np.where(both_nan, 0.0, ta - tb))
    d = np.where(np.isnan(d), np.inf, d)
    return float(d.max()) if d.size else 0.0


def check_preprocessing(pipeline: Any, X_train: pd.DataFrame, X_other: pd.DataFrame) -> LeakageFinding:
    """Check (a): each fitted preprocessing step matches a copy fitted on training rows only.

    For every step before the final estimator, a fresh copy is fitted on the
    training rows (as transformed by the earlier steps) and another on all rows;
    the pipeline's own step must transform a probe sample exactly like the first.

    Parameters
    ----------
    pipeline : a fitted scikit-learn ``Pipeline``.
    X_train : the training rows the pipeline should have been fitted on.
    X_other : the validation and test rows.
    """
    from sklearn.base import clone

    steps = list(pipeline.steps[:-1]) if hasattr(pipeline, "steps") else []
    if not steps:
        return LeakageFinding("preprocessing", "pass", "the model has no separate preprocessing step")
    X_all = pd.concat([X_train, X_other], ignore_index=True)
    probe = X_all.sample(min(len(X_all), 2000), random_state=0)
    cur_tr, cur_all, cur_probe = X_train, X_all, probe
    checked, insensitive, bad = [], [], []
    for name, step in steps:
        if step is None or step == "passthrough" or not hasattr(step, "transform"):
            continue
        own = _transform_max_diff(step, clone(step).fit(cur_tr), cur_probe)
        vs_all = _transform_max_diff(step, clone(step).fit(cur_all), cur_probe)
        if own > 1e-9:
            bad.append(f"{name!r} differs from a copy fitted on training rows (max difference {own:.3g})"
                       + (" and matches one fitted on all rows" if vs_all <= 1e-9 else ""))
        elif vs_all <= 1e-9:
            insensitive.append(name)
        else:
            checked.append(f"{name!r} (a copy fitted on all rows differs by {vs_all:.3g})")
        cur_tr, cur_all, cur_probe = step.transform(cur_tr), step.transform(cur_all), step.transform(cur_probe)
    if bad:
        return LeakageFinding("preprocessing", "fail",
                              "preprocessing saw rows outside training: " + "; ".join(bad), ())
    parts = []
    if checked:
        parts.append("fitted on training rows only: " + ", ".join(checked))
    if insensitive:
        parts.append(f"no fitted statistics in {', '.join(map(repr, insensitive))}")
    return LeakageFinding("preprocessing", "pass", "; ".join(parts) or "no fitted preprocessing")


# ---------------------------------------------------------------------------
# all together
# ---------------------------------------------------------------------------

def candidate_columns(frame: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """The columns the checklist tests by default: the spec's model inputs in ``frame``, then every other column.

    Role columns (target, id, time, oracle…) and internal ``__`` columns are left out; a column the spec does
    not know is kept, since a user may have left a leaked column in.
    """
    roles = set(spec.role_columns) - set(spec.feature_names)
    columns = [c for c in spec.model_inputs if c in frame]
    return columns + [c for c in frame.columns if c not in columns and c not in roles and not str(c).startswith("__")]


def run_leakage_checks(
    frame: pd.DataFrame,
    y: np.ndarray,
    spec: DatasetSpec,
    split: Split,
    *,
    columns: list[str] | None = None,
    random_state: int = 7,
) -> LeakageReport:
    """Run checks (b)–(d) on a split frame; (a) runs during training via :func:`check_preprocessing`.

    Parameters
    ----------
    frame : the cleaned portfolio.
    y : 0/1 outcomes.
    spec : its spec.
    split : the train / validation / test split.
    columns : the candidate feature columns (default: the spec's model inputs present
        in the frame, plus any other non-role column, since a user may have left a
        leaked column in). The spec's post-event and ``never`` columns in the frame
        (not its oracle) are screened by the single-column checks as well.

    Returns
    -------
    LeakageReport
    """
    y = np.asarray(y, dtype=float)
    if columns is None:
        columns = candidate_columns(frame, spec)
    columns = [c for c in dict.fromkeys(columns) if c in frame]
    keys = {spec.target, spec.id, spec.time, spec.oracle}
    screened = [c for c in dict.fromkeys((*spec.post_event, *spec.never))
                if c in frame and c not in columns and c not in keys]
    tr = np.asarray(split.train, dtype=np.int64)
    groups = _groups(frame[spec.id].to_numpy()[tr]) if spec.id and spec.id in frame else np.arange(len(tr))
    y_tr = y[tr]
    aucs = pd.DataFrame(columns=["column", "kind", "auc", "auc_missing", "strength"])
    known = y_tr[~np.isnan(y_tr)]
    if len(known) < 10 or len(np.unique(known)) < 2:
        why = (f"the training part has only {len(known)} row(s) with an outcome" if len(known) < 10 else
               f"every training row has the outcome {int(known[0])}")
        findings = [LeakageFinding(check, "skip", f"{why}: a column's power to separate defaults cannot be measured")
                    for check in ("too_good", "signal_share")]
    elif not columns and not screened:
        findings = [LeakageFinding(check, "skip", "no candidate column to test")
                    for check in ("too_good", "signal_share")]
    else:
        findings, aucs = _too_good_checks(frame.iloc[tr].reset_index(drop=True), y_tr, columns + screened,
                                          groups, random_state, features=columns)
    findings.append(_post_event_check(spec, columns))
    findings.extend(_key_checks(frame, spec, split))
    shift_finding, shift = _shift_check(frame, columns, split)
    findings.append(shift_finding)
    return LeakageReport(findings=findings, feature_auc=aucs, shift=shift)


def _groups(ids: np.ndarray) -> np.ndarray:
    """Integer group per row for cross-validation; a row without an id is a group of its own."""
    codes = np.asarray(pd.factorize(pd.Series(ids, dtype=object))[0], dtype=np.int64)
    lone = codes < 0
    codes[lone] = int(codes.max(initial=-1)) + 1 + np.arange(int(lone.sum()), dtype=np.int64)
    return codes
