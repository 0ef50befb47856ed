"""The direct paths of fitted scikit-learn models give the library's numbers, bit for bit, or stand aside.

* the logistic candidate's preprocessing (imputation, missing indicators, the quantile transform to a
  normal distribution, one-hot categories): the shared logistic bundle's raw scores and calibrated PDs
  equal scikit-learn's on matrices with missing values, values far outside the training range and on
  the quantiles themselves, unknown categories, single rows and blocks of thousands;
* a random forest's and histogram boosting's trees, walked all at once: the same probabilities;
* any pipeline or model of another shape, input the library refuses, and a path that would disagree
  with the library on its probe rows: the library is called instead.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from models import demo_panel, quick
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling import direct
from riskcore.modelling.features import add_panel_features, feature_layout
from riskcore.modelling.models import make_pipeline
from riskcore.modelling.scorers import SklearnScorer, TransformedNative, read_scorer, write_model

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
UNKNOWN_CODES = (-7.0, -1.0, 0.5, 17.0, 1e9)


@pytest.fixture(scope="module")
def logistic_bundle(model_cache):
    """The shared quick logistic model on the demo panel (the champion of the lifecycle tests)."""
    return model_cache.train(demo_panel(model_cache).frame, quick("logistic")).bundle()


@pytest.fixture(scope="module")
def panel(model_cache):
    """The demo panel with its panel features, and its outcomes."""
    frame = add_panel_features(demo_panel(model_cache).frame, DEMO_SPEC)
    return frame, frame[DEMO_SPEC.target].to_numpy()


@pytest.fixture(scope="module", params=["random_forest", "hist_gb"])
def tree_scorer(request, panel, tmp_path_factory):
    """A small forest or boosted model fitted as ``make_pipeline`` makes it, written and read back as a bundle does."""
    kind = request.param
    params = {"n_estimators": 40, "min_samples_leaf": 10} if kind == "random_forest" else {"max_iter": 60}
    frame, y = panel
    pipe = make_pipeline(kind, DEMO_SPEC, params).fit(frame, y)
    folder = tmp_path_factory.mktemp(kind)
    write_model(folder, kind, pipe.steps[-1][1], pipe.steps[1:-1])
    return read_scorer(folder, kind), pipe.steps[0][1].transform(frame)


def _library(scorer):
    """The same scorer with its direct paths switched off: scikit-learn all the way."""
    plain = copy.copy(scorer)
    for path in ("direct_prep", "direct_fill", "direct_trees"):
        if hasattr(plain, path):
            setattr(plain, path, None)
    return plain


def _block(base: np.ndarray, anchors: list[np.ndarray], categorical: list[int], seed: int, rows: int,
           p_missing: float, p_edge: float, p_unknown: float) -> np.ndarray:
    """Real rows of ``base`` with missing values, values on and far beyond ``anchors``, unknown categories."""
    rng = np.random.default_rng(seed)
    x = base[rng.integers(0, len(base), rows)].copy()
    numeric = [c for c in range(x.shape[1]) if c not in set(categorical)]
    for c in numeric:
        edge = rng.random(rows) < p_edge
        a = anchors[c] if len(anchors[c]) else np.zeros(1)
        choices = np.concatenate([a, a + np.spacing(a), a - np.spacing(a), [a.min() - 1e7, a.max() * 1e4 + 1e8]])
        x[edge, c] = rng.choice(choices, int(edge.sum()))
    for c in categorical:
        unknown = rng.random(rows) < p_unknown
        x[unknown, c] = rng.choice(UNKNOWN_CODES, int(unknown.sum()))
    x[rng.random(x.shape) < p_missing] = np.nan
    return x


blocks = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "rows": st.one_of(st.just(1), st.integers(2, 64), st.integers(200, 3000)),
    "p_missing": st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    "p_edge": st.sampled_from([0.0, 0.1, 0.5]),
    "p_unknown": st.sampled_from([0.0, 0.2, 1.0]),
})


# ---------------------------------------------------------------------------
# the logistic candidate's preprocessing
# ---------------------------------------------------------------------------

def _logistic_anchors(bundle) -> tuple[list[np.ndarray], list[int]]:
    prep = bundle.scorer.direct_prep
    anchors = [np.zeros(0)] * prep.n_features
    for b, kept in enumerate(prep.kept):
        anchors[prep.numeric[kept]] = prep.quantiles[b]
    return anchors, [int(c) for c in prep.categorical]


def test_the_logistic_candidate_is_recognised(logistic_bundle, panel):
    assert isinstance(logistic_bundle.scorer.direct_prep, direct.LogisticPrep)
    frame, y = panel
    pipe = make_pipeline("logistic", DEMO_SPEC, {"C": 0.1}).fit(frame, y)
    assert SklearnScorer("logistic", pipe.steps[-1][1], Pipeline(pipe.steps[1:-1])).direct_prep is not None


@FAST
@given(block=blocks)
def test_logistic_scores_and_pds_equal_the_library(logistic_bundle, block):
    scorer = logistic_bundle.scorer
    anchors, categorical = _logistic_anchors(logistic_bundle)
    base = logistic_bundle.matrix(logistic_bundle.holdout())
    x = _block(base, anchors, categorical, **block)
    library = _library(scorer)
    assert np.array_equal(scorer.prepared(x), scorer.transform.transform(x))
    raw, expected = scorer.raw(x), library.raw(x)
    pd_fast, pd_library = logistic_bundle.calibrate(raw), logistic_bundle.calibrate(expected)
    assert np.array_equal(raw, expected), np.abs(raw - expected).max()  # exactly: max abs difference 0
    assert np.array_equal(pd_fast, pd_library), np.abs(pd_fast - pd_library).max()
    assert np.array_equal(np.concatenate([scorer.raw(x[i:i + 1]) for i in range(min(len(x), 20))]), raw[:20])


def test_logistic_bundle_scores_its_holdout_as_trained(logistic_bundle):
    hold = logistic_bundle.holdout()
    raw, p = logistic_bundle.predict_frame(hold)
    raw_library = _library(logistic_bundle.scorer).raw(logistic_bundle.matrix(hold))
    assert np.array_equal(raw, raw_library)
    np.testing.assert_allclose(p, hold["p_default"], atol=1e-9)  # as test_bundle holds every bundle


def test_input_the_library_refuses_is_left_to_it(logistic_bundle):
    scorer = logistic_bundle.scorer
    x = logistic_bundle.matrix(logistic_bundle.holdout())[:3].copy()
    x[1, 0] = np.inf
    assert scorer.direct_prep.transform(x) is None
    with pytest.raises(ValueError, match="infinity"):
        scorer.raw(x)
    assert scorer.direct_prep.transform(x[:, :-1]) is None
    with pytest.raises(ValueError, match="features"):
        scorer.raw(x[:, :-1])
    x[1, 0] = 1.0
    assert scorer.direct_prep.transform(x.astype(np.float32)) is None  # the library keeps float32: its numbers
    assert np.array_equal(scorer.prepared(x.astype(np.float32)), scorer.transform.transform(x.astype(np.float32)))


def _toy(numeric_step=None, *, remainder="drop", onehot=None):
    """A small logistic pipeline on 3 numeric and 1 categorical column, fitted on random rows."""
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.lognormal(size=(400, 3)), rng.integers(0, 4, 400).astype(float)])
    holes = rng.random(x.shape) < 0.1
    holes[:, 2] = False  # the column a "passthrough" remainder hands to the model as it is
    x[holes] = np.nan
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=400) > 1).astype(int)
    numeric = numeric_step or QuantileTransformer(n_quantiles=50, output_distribution="normal")
    ct = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("quantile", numeric)]),
         [0, 1]),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=-1.0)),
                          ("onehot", onehot or OneHotEncoder(handle_unknown="ignore", sparse_output=False))]), [3]),
    ], remainder=remainder)
    prep = Pipeline([("prep", ct)]).fit(x, y)
    return SklearnScorer("logistic", LogisticRegression().fit(prep.transform(x), y), prep), x


def test_a_toy_of_the_recognised_shape_takes_the_direct_path():
    scorer, x = _toy()
    assert scorer.direct_prep is not None
    assert np.array_equal(scorer.raw(x), _library(scorer).raw(x))


@pytest.mark.parametrize("shape", ["uniform", "scaler", "passthrough", "drop_first"])
def test_an_unrecognised_pipeline_is_scored_by_the_library(shape):
    scorer, x = _toy(
        numeric_step={"uniform": QuantileTransformer(n_quantiles=50), "scaler": StandardScaler()}.get(shape),
        remainder="passthrough" if shape == "passthrough" else "drop",
        onehot=OneHotEncoder(drop="first", sparse_output=False) if shape == "drop_first" else None)
    assert direct.logistic_prep(scorer.transform) is None and scorer.direct_prep is None
    np.testing.assert_allclose(scorer.raw(x), scorer.model.decision_function(scorer.transform.transform(x)),
                               rtol=0, atol=1e-12)


def test_a_path_that_disagrees_with_the_library_on_its_probe_is_not_used(monkeypatch):
    scorer, _ = _toy()
    interp = direct._interp
    monkeypatch.setattr(direct, "_interp", lambda x, xp, fp: np.nextafter(interp(x, xp, fp), np.inf))
    assert direct.logistic_prep(scorer.transform) is None


# ---------------------------------------------------------------------------
# trees
# ---------------------------------------------------------------------------

def test_forests_and_boosting_are_recognised(tree_scorer):
    scorer, _ = tree_scorer
    assert isinstance(scorer.direct_trees, direct.TreePath)


@FAST
@given(block=blocks)
def test_tree_scores_equal_the_library(tree_scorer, block):
    scorer, base = tree_scorer
    path = scorer.direct_trees
    anchors = [path.threshold[path.feature == c] for c in range(path.n_features)]
    categorical = list(feature_layout(DEMO_SPEC).categorical_indices)
    x = _block(base, anchors, categorical, **block)
    try:
        expected = _library(scorer).raw(x)
    except ValueError as err:  # a forest refuses a value beyond float32's range; so does the direct path
        with pytest.raises(ValueError, match=str(err).splitlines()[0][:40]):
            scorer.raw(x)
        return
    raw = scorer.raw(x)
    assert np.array_equal(raw, expected), np.abs(raw - expected).max()
    assert (path.proba(scorer.prepared(x)) is None) == (len(x) > direct.TREE_ROWS)


def test_models_of_other_shapes_are_left_to_the_library():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    x[:, 0] = rng.integers(0, 3, 300)
    three = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, rng.integers(0, 3, 300))
    categorical = HistGradientBoostingClassifier(max_iter=10, categorical_features=[0]).fit(
        x, (x[:, 1] > 0).astype(int))
    assert direct.tree_path(three) is None
    assert direct.tree_path(categorical) is None
    assert direct.tree_path(LogisticRegression().fit(x, (x[:, 1] > 0).astype(int))) is None
    scorer = SklearnScorer("hist_gb", categorical)
    assert scorer.direct_trees is None
    np.testing.assert_array_equal(scorer.proba(x), categorical.predict_proba(x)[:, 1])


def test_interp_is_numpys_on_every_column():
    rng = np.random.default_rng(11)
    xp = np.sort(rng.choice([0.0, 1.0, 2.5, 2.5, 2.5, 7.0, 1e-300, 3e-300], size=(6, 9)), axis=1)
    fp = np.tile(np.linspace(0, 1, 9), (6, 1))
    x = np.concatenate([xp.T, xp.T + 1e-3, rng.uniform(-1, 8, (40, 6)), np.full((1, 6), np.nan)])
    expected = np.column_stack([np.interp(x[:, j], xp[j], fp[j]) for j in range(6)])
    assert np.array_equal(direct._interp(x, xp, fp), expected, equal_nan=True)


def test_a_scorer_with_its_direct_paths_travels_to_a_worker(logistic_bundle, tree_scorer):
    """A cluster's workers get the bundle pickled: the direct paths go with it and score alike."""
    for scorer, x in ((logistic_bundle.scorer, logistic_bundle.matrix(logistic_bundle.holdout())[:50]),
                      (tree_scorer[0], tree_scorer[1][:50])):
        copied = pickle.loads(pickle.dumps(scorer))
        assert (copied.direct_prep, copied.direct_trees) != (None, None)
        assert np.array_equal(copied.raw(x), scorer.raw(x))


# ---------------------------------------------------------------------------
# the steps that fill columns before a tree model
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["hist_gb", "random_forest+smote", "lightgbm+smote"])
def fill_scorer(request, panel, tmp_path_factory):
    """A tree model behind its imputer (``smote=True``) or its empty-column filler, read back as a bundle does."""
    kind, _, smote = request.param.partition("+")
    params = {"random_forest": {"n_estimators": 20}, "lightgbm": {"n_estimators": 30}, "hist_gb": {"max_iter": 30}}
    frame, y = panel
    pipe = make_pipeline(kind, DEMO_SPEC, params[kind], smote=bool(smote)).fit(frame, y)
    folder = tmp_path_factory.mktemp(kind)
    write_model(folder, kind, pipe.steps[-1][1], [(n, s) for n, s in pipe.steps[1:-1] if n != "smote"])
    return read_scorer(folder, kind), pipe.steps[0][1].transform(frame)


def test_fill_steps_are_recognised(fill_scorer):
    scorer, _ = fill_scorer
    assert isinstance(scorer.direct_fill, direct.ColumnFill)
    assert isinstance(scorer, (SklearnScorer, TransformedNative))


@FAST
@given(block=blocks)
def test_filled_scores_equal_the_library(fill_scorer, block):
    scorer, base = fill_scorer
    categorical = list(feature_layout(DEMO_SPEC).categorical_indices)
    anchors = [np.nanquantile(base[:, c], [0, 0.5, 1]) if np.isfinite(base[:, c]).any() else np.zeros(1)
               for c in range(base.shape[1])]
    x = _block(base, anchors, categorical, **block)
    raw, expected = scorer.raw(x), _library(scorer).raw(x)
    assert np.array_equal(raw, expected), np.abs(raw - expected).max()
    transform = scorer.transform
    assert np.array_equal(scorer.direct_fill.transform(x), transform.transform(x), equal_nan=True)


def test_steps_that_do_more_than_fill_are_left_to_the_library(fill_scorer):
    scorer, base = fill_scorer
    x = base[:5].copy()
    steps = scorer.transform.steps
    assert direct.column_fill(Pipeline([*steps, ("scale", StandardScaler().fit(base))])) is None
    x[2, 1] = np.inf
    if any(isinstance(s, SimpleImputer) for _, s in steps):  # an imputer refuses infinities; the direct path too
        assert scorer.direct_fill.transform(x) is None
        with pytest.raises(ValueError, match="infinity"):
            scorer.raw(x)
