"""Signing a model report: a ledger entry in the hash chain, shown in the report's sign-off section."""

from __future__ import annotations

import re

import pytest

from riskcore.config import Settings
from riskcore.errors import ConfigError
from riskcore.lifecycle.report import build_report, render_report
from riskcore.lifecycle.signoff import report_digest, sign_report, signatures
from riskcore.serving.audit import AuditLog

STAMP = "2026-12-01T09:00:00+00:00"


@pytest.fixture
def audit(tmp_path):
    log = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    yield log
    log.close()


def _signoff(html: str) -> str:
    return re.search(r'<section id="signoff">(.*?)</section>', html, flags=re.S).group(1)


def test_a_signature_is_on_record_and_in_the_sign_off_section(quick_bundle, audit, tmp_path):
    settings = Settings(home=tmp_path / "home")
    html = render_report(build_report(quick_bundle, settings=settings, audit=audit, generated_at=STAMP))
    assert "Signed by" not in _signoff(html)
    entry = sign_report(audit, version=quick_bundle.version, bundle_hash=quick_bundle.manifest_hash, html=html,
                        actor="dashboard:vera", role="validator", decision="approved with the conditions of §8")
    assert (entry.event, entry.actor, entry.to_version) == ("sign", "dashboard:vera", quick_bundle.version)
    assert entry.gate_digest == report_digest(html) and audit.verify().ok
    assert [r for r, _ in signatures(audit.moves(), quick_bundle.version)] == ["validator"]
    signed = render_report(build_report(quick_bundle, settings=settings, audit=audit, generated_at=STAMP))
    block = _signoff(signed)
    assert "Signed by <code>dashboard:vera</code>" in block and "approved with the conditions of §8" in block
    assert entry.gate_digest in block


def test_the_digest_leaves_out_the_generation_line(quick_bundle, tmp_path):
    settings = Settings(home=tmp_path / "home")
    a = render_report(build_report(quick_bundle, settings=settings, generated_at=STAMP))
    b = render_report(build_report(quick_bundle, settings=settings, generated_at="2027-01-01T00:00:00+00:00"))
    assert a != b and report_digest(a) == report_digest(b)


@pytest.mark.parametrize(("role", "decision", "match"), [("developer", "fine", "signed as validator or approver"),
                                                         ("validator", "  ", "needs the decision")])
def test_a_signature_needs_a_signing_role_and_a_decision(quick_bundle, audit, role, decision, match):
    with pytest.raises(ConfigError, match=match):
        sign_report(audit, version=quick_bundle.version, bundle_hash=quick_bundle.manifest_hash, html="<p>x</p>",
                    actor="cli:vera", role=role, decision=decision)
    assert audit.moves() == []
