"""How well one column, or a quick model on several, separates defaults from non-defaults.

The evidence behind leakage check (b) (:mod:`riskcore.modelling.leakage`): a
column that alone separates the classes almost perfectly, or that carries as
much signal as a model on every other column, is how a leaked outcome shows.
Numbers are scored as they are, dates as nanoseconds, text through an
out-of-fold target mean (so an identifier cannot score by memorising its rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskcore.numeric import roc_auc

__all__ = ["as_float", "column_auc", "feature_aucs", "quick_model_auc"]


def column_auc(y: np.ndarray, s: np.ndarray) -> float:
    """AUC of one score over its non-missing rows; NaN with fewer than 10 such rows, one class or a constant score.

    A constant column separates nothing, so it gets NaN rather than the 0.5 a
    plain AUC would give: it is not evidence either way.
    """
    ok = ~np.isnan(s)
    if ok.sum() < 10 or np.nanstd(s[ok]) == 0:
        return float("nan")
    return roc_auc(y[ok], s[ok])


def _oof_target_mean(codes: np.ndarray, y: np.ndarray, groups: np.ndarray, random_state: int) -> np.ndarray:
    """Out-of-fold smoothed target mean of a categorical column (so an id-like column cannot cheat)."""
    from sklearn.model_selection import GroupKFold

    out = np.full(len(y), np.nan)
    prior = y.mean()
    n_folds = min(5, len(np.unique(groups)))
    if n_folds < 2:
        return out
    for tr, va in GroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state).split(codes, y, groups):
        df = pd.DataFrame({"c": codes[tr], "y": y[tr]})
        stats = df.groupby("c")["y"].agg(["sum", "count"])
        enc = (stats["sum"] + 10 * prior) / (stats["count"] + 10)
        out[va] = pd.Series(codes[va]).map(enc).fillna(prior).to_numpy()
    return out


def feature_aucs(frame: pd.DataFrame, y: np.ndarray, columns: list[str], *, groups: np.ndarray | None = None,
                 random_state: int = 7) -> pd.DataFrame:
    """Single-column AUC of each column's values and of its missingness.

    Numbers are used as they are; text columns through an out-of-fold target
    mean (so an identifier cannot score by memorising). Columns: column, kind,
    auc, auc_missing, strength (``|auc - 0.5|`` of the stronger of the two).
    """
    y = np.asarray(y, dtype=float)
    groups = np.arange(len(y)) if groups is None else groups
    rows = []
    for col in columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            kind = "numeric"
            auc = column_auc(y, as_float(s))
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            kind = "numeric"
            auc = column_auc(y, s.to_numpy(dtype=float, na_value=np.nan))
        else:
            kind = "categorical"
            codes = pd.factorize(s.astype(object).where(s.notna(), "__missing__"))[0]
            auc = column_auc(y, _oof_target_mean(codes, y, groups, random_state))
        miss = s.isna().to_numpy()
        auc_missing = column_auc(y, miss.astype(float)) if 0 < miss.sum() < len(miss) else float("nan")
        strength = np.nanmax([abs(auc - 0.5) if auc == auc else 0.0,
                              abs(auc_missing - 0.5) if auc_missing == auc_missing else 0.0])
        rows.append({"column": col, "kind": kind, "auc": auc, "auc_missing": auc_missing, "strength": strength})
    return pd.DataFrame(rows, columns=["column", "kind", "auc", "auc_missing", "strength"])


def as_float(s: pd.Series) -> np.ndarray:
    """Dates as nanoseconds since 1970 (NaN where missing), numbers as they are."""
    if pd.api.types.is_datetime64_any_dtype(s):
        ns = s.to_numpy(dtype="datetime64[ns]")
        return np.where(np.isnat(ns), np.nan, ns.astype(np.int64).astype(float))
    return s.to_numpy(dtype=float, na_value=np.nan)


def quick_model_auc(frame: pd.DataFrame, y: np.ndarray, columns: list[str], groups: np.ndarray,
                     random_state: int) -> tuple[float, str]:
    """Cross-validated AUC of a small gradient-boosting model on ``columns``, or NaN and the reason it has none.

    Text with more than 250 levels is left out (histogram boosting bins at most 255
    categories; such a column is tested on its own by its out-of-fold target mean),
    and so are columns without any value or with a single one.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    X = pd.DataFrame(index=frame.index)
    cat_mask = []
    for c in columns:
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                                       and not pd.api.types.is_bool_dtype(s)):
            x = as_float(s)
            is_cat = False
        else:
            codes, uniques = pd.factorize(s)
            if len(uniques) > 250:
                continue
            x = np.where(codes < 0, np.nan, codes).astype(float)
            is_cat = True
        finite = x[np.isfinite(x)]
        # scikit-learn's histogram boosting cannot bin a column without any value
        if len(finite) == 0 or finite.min() == finite.max():
            continue
        X[c] = x
        cat_mask.append(is_cat)
    if X.shape[1] == 0:
        return float("nan"), "no other column has two or more values"
    n_folds = min(3, len(np.unique(groups)))
    if n_folds < 2 or len(np.unique(y)) < 2:
        return float("nan"), "too few rows or companies for cross-validation"
    from threadpoolctl import threadpool_limits

    scores = np.full(len(y), np.nan)
    # one OpenMP thread: on a few thousand rows two threads spend more time synchronising than fitting
    with threadpool_limits(limits=1, user_api="openmp"):
        for tr, va in GroupKFold(n_splits=n_folds, shuffle=True, random_state=random_state).split(X, y, groups):
            if len(np.unique(y[tr])) < 2:
                continue  # a fold with one class cannot train; its rows stay unscored
            model = HistGradientBoostingClassifier(
                max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=min(40, max(1, len(tr) // 10)),
                l2_regularization=1.0, categorical_features=np.array(cat_mask) if any(cat_mask) else None,
                early_stopping=False, random_state=random_state)
            model.fit(X.iloc[tr], y[tr])
            scores[va] = model.predict_proba(X.iloc[va])[:, 1]
    auc = column_auc(y, scores)
    return auc, "" if auc == auc else "too few scored rows of both classes"
