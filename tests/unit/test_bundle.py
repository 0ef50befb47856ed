import shutil

import numpy as np
import pytest

from riskcore.errors import BundleError
from riskcore.modelling.bundle import bundle_hash, load_bundle, verify_bundle


@pytest.fixture()
def bundle_copy(quick_training, tmp_path):
    dest = tmp_path / "bundle"
    shutil.copytree(quick_training.bundle_dir, dest)
    return dest


def test_loads_and_scores_like_training(quick_bundle):
    hold = quick_bundle.holdout()
    _, p = quick_bundle.predict_frame(hold)
    np.testing.assert_allclose(p, hold["p_default"], atol=1e-9)
    assert quick_bundle.kind in ("logistic", "lightgbm")
    assert quick_bundle.costs.fn == 50_000


def test_lightgbm_bundle_uses_the_native_booster(lgbm_bundle):
    from riskcore.modelling.scorers import LightGBMScorer

    assert isinstance(lgbm_bundle.scorer, LightGBMScorer)
    assert (lgbm_bundle.path / "model.txt").read_text().startswith("tree")


@pytest.mark.parametrize("target", ["model", "calibration.json", "features.json", "metrics.json", "spec.json"])
def test_changing_one_byte_is_refused(bundle_copy, target):
    path = next(p for p in bundle_copy.iterdir() if p.name.startswith(target))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="was altered"):
        load_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy):
    (bundle_copy / "profile.json").unlink()
    with pytest.raises(BundleError, match="incomplete: profile.json missing"):
        load_bundle(bundle_copy)


def test_unexpected_file_is_refused(bundle_copy):
    (bundle_copy / "evil.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(BundleError, match="unexpected file"):
        load_bundle(bundle_copy)


def test_rewritten_manifest_is_caught_by_the_registry_hash(bundle_copy, quick_training):
    expected = bundle_hash(quick_training.bundle_dir)
    (bundle_copy / "metrics.json").write_text("{}")
    import hashlib
    import json

    man = json.loads((bundle_copy / "manifest.json").read_text())
    man["files"]["metrics.json"] = hashlib.sha256(b"{}").hexdigest()
    (bundle_copy / "manifest.json").write_text(json.dumps(man))
    verify_bundle(bundle_copy)  # self-consistent again …
    with pytest.raises(BundleError, match="differs from the one recorded"):
        load_bundle(bundle_copy, expected_hash=expected)  # … but not the registered one


def test_no_bundle_here(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path)


def test_untrusted_skops_type_is_refused(bundle_copy, quick_bundle):
    from fractions import Fraction

    import skops.io as sio

    if quick_bundle.kind != "logistic":
        pytest.skip("needs a scikit-learn model file")
    target = bundle_copy / "model.skops"
    sio.dump({"x": Fraction(1, 3)}, target)
    import hashlib
    import json

    man = json.loads((bundle_copy / "manifest.json").read_text())
    man["files"]["model.skops"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (bundle_copy / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(BundleError, match="does not load"):
        load_bundle(bundle_copy)


def test_a_logistic_score_does_not_depend_on_the_rows_scored_with_it():
    """Row by row, in any chunk, the same bits; and the same number as scikit-learn's decision function."""
    from sklearn.linear_model import LogisticRegression

    from riskcore.modelling.scorers import SklearnScorer

    rng = np.random.default_rng(7)
    x = rng.normal(size=(1500, 83))
    y = (x[:, 0] + rng.normal(size=1500) > 1).astype(int)
    scorer = SklearnScorer("logistic", LogisticRegression(max_iter=500).fit(x, y))
    whole = scorer.raw(x)
    alone = np.concatenate([scorer.raw(x[i:i + 1]) for i in range(len(x))])
    chunks = np.concatenate([scorer.raw(part) for part in np.array_split(x, 7)])
    assert (whole == alone).all() and (whole == chunks).all()
    np.testing.assert_allclose(whole, scorer.model.decision_function(x), rtol=0, atol=1e-12)
