"""The scorers read back from a bundle's model files: small blocks on one thread score as the booster does."""

from __future__ import annotations

import numpy as np
import pytest
from models import demo_panel

from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling.features import add_panel_features
from riskcore.modelling.models import make_pipeline
from riskcore.modelling.scorers import XGBoostScorer, read_scorer, write_model


@pytest.fixture(scope="module")
def xgboost_scorer(model_cache, tmp_path_factory):
    frame = add_panel_features(demo_panel(model_cache).frame, DEMO_SPEC)
    pipe = make_pipeline("xgboost", DEMO_SPEC, {"n_estimators": 60, "max_depth": 4}).fit(frame, frame[DEMO_SPEC.target])
    folder = tmp_path_factory.mktemp("xgboost")
    write_model(folder, "xgboost", pipe.steps[-1][1], [])
    return read_scorer(folder, "xgboost"), pipe.steps[0][1].transform(frame)


def test_xgboost_scores_small_blocks_on_one_thread_with_the_same_margins(xgboost_scorer):
    scorer, matrix = xgboost_scorer
    assert isinstance(scorer, XGBoostScorer)
    x = matrix[:1500].copy()
    x[::7, 3] = np.nan
    whole = np.asarray(scorer.booster.inplace_predict(x, predict_type="margin"), dtype=float)
    assert np.array_equal(scorer.raw(x), whole)  # 1,500 rows: the booster with its threads
    assert np.array_equal(scorer.raw(x[:999]), whole[:999])  # the one-thread copy
    assert np.array_equal(np.concatenate([scorer.raw(x[i:i + 1]) for i in range(50)]), whole[:50])
