"""The demo on disk: its known-truth lifetime PDs are found again from the manifest, and only for the demo."""

from __future__ import annotations

import json

from riskcore.modelling.demo import demo_lifetime_truth, write_demo_data


def test_the_known_truth_comes_back_from_the_manifest_and_only_for_the_demo(tmp_path):
    files = write_demo_data(tmp_path / "demo.csv", companies=60, seed=11)
    truth = demo_lifetime_truth(files.portfolio, 3, n_paths=5)
    assert truth is not None
    assert list(truth.columns[-3:]) == ["true_cum_pd_1", "true_cum_pd_2", "true_cum_pd_3"]
    assert set(truth["fiscal_year"]) == {files.manifest.last_year}
    assert (truth["true_cum_pd_3"] >= truth["true_cum_pd_1"]).all()
    # a file without a manifest is not the demo; nor is one the generator does not make again
    other = tmp_path / "yours.csv"
    other.write_bytes(files.portfolio.read_bytes())
    assert demo_lifetime_truth(other) is None
    manifest = json.loads(files.manifest_path.read_text(encoding="utf-8"))
    files.manifest_path.write_text(json.dumps({**manifest, "n_rows": manifest["n_rows"] + 1}), encoding="utf-8")
    assert demo_lifetime_truth(files.portfolio) is None
    files.manifest_path.write_text("not json", encoding="utf-8")
    assert demo_lifetime_truth(files.portfolio) is None
