"""The Audit trail page: the chain verified, and a period exported for an examiner that verifies offline."""

from __future__ import annotations

from pagetools import errors, open_page

from riskcore.workbench import Workbench


def test_the_page_verifies_the_chain_and_writes_an_export_that_verifies_offline(at, app_env):
    open_page(at, "audit_trail")
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Audit trail"
    next(b for b in at.button if b.label == "Write the export").click().run()
    assert not at.exception and not errors(at)
    assert any("Export written to" in s.value for s in at.success)
    assert [d.proto.label for d in at.get("download_button")] == ["Download the export (zip)"]
    exports = list((app_env / "exports").iterdir())
    assert len(exports) == 1
    check = Workbench().verify_export(exports[0], against_trail=True)
    assert check.ok and check.rows > 0, check.summary()
    at.button(key="audit_verify").click().run()
    assert not at.exception and any(s.value.startswith("chain intact") for s in at.success)
