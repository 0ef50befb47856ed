"""The demo on disk: its known-truth lifetime PDs are found again from the manifest, and only for the demo."""

from __future__ import annotations

import json

import pandas as pd

from riskcore.data.demo_truth import demo_lifetime_truth
from riskcore.data.synth import generate_portfolio
from riskcore.modelling.demo import write_demo_data


def test_the_known_truth_comes_back_from_the_manifest_and_only_for_the_demo(tmp_path):
    files = write_demo_data(tmp_path / "demo.csv", companies=60, seed=11)
    truth = demo_lifetime_truth(files.portfolio, 3, n_paths=5)
    assert truth is not None
    assert list(truth.columns[-3:]) == ["true_cum_pd_1", "true_cum_pd_2", "true_cum_pd_3"]
    assert set(truth["fiscal_year"]) == {files.manifest.last_year}
    assert (truth["true_cum_pd_3"] >= truth["true_cum_pd_1"]).all()
    # the manifest's intercept makes the same portfolio again in one pass of the panel
    again = generate_portfolio(60, seed=11, intercept=files.manifest.intercept)
    pd.testing.assert_frame_equal(again.frame, generate_portfolio(60, seed=11).frame)
    assert again.manifest == files.manifest
    # a file without a manifest is not the demo; nor is one the generator does not make again
    other = tmp_path / "yours.csv"
    other.write_bytes(files.portfolio.read_bytes())
    assert demo_lifetime_truth(other) is None
    assert demo_lifetime_truth(tmp_path.anchor) is None and demo_lifetime_truth(tmp_path) is None  # no file name
    manifest = json.loads(files.manifest_path.read_text(encoding="utf-8"))
    files.manifest_path.write_text(json.dumps({**manifest, "n_rows": manifest["n_rows"] + 1}), encoding="utf-8")
    assert demo_lifetime_truth(files.portfolio) is None
    files.manifest_path.write_text("not json", encoding="utf-8")
    assert demo_lifetime_truth(files.portfolio) is None
