"""A provisions run on record: what was provided for, from which file and model, with which result.

A provisions run (``python -m riskcore provisions``) is a :class:`~riskcore.serving.audit.ChainedEvent`
with source ``provisions``: one head of the audit trail's hash chain with no rows, its content the run
(the as-of year, the standard and lifetime method, the scenario weights, the companies and the ECL by
stage, the SHA-256 of the input file and of each file written) and the request id under which the
as-of companies' 12-month scores were recorded with their inputs, so every company's ECL traces back to
the inputs it was scored on. ``verify()`` checks it with the scores in one chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from riskcore.errors import AuditError
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["ProvisionRecord"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ProvisionRecord(ChainedEvent):
    """One provisions run, as the trail holds it.

    Attributes
    ----------
    caller, model_version, bundle_hash : who ran it, with which model.
    as_of : the fiscal year provided for; ``standard`` ``ifrs9`` or ``cecl``; ``method`` the lifetime method.
    scores_request : the request id of the as-of companies' recorded scores.
    input_sha256 : the SHA-256 of the input file; ``outputs``: file name → SHA-256 of each file written.
    folder : the folder the files were written to (absolute), where a later reader finds them and checks them
        against ``outputs``.
    companies, ecl : the portfolio's size and weighted ECL; ``by_stage``: stage → {companies, ead, ecl}.
    weights : scenario → weight.
    """

    source: ClassVar[str] = "provisions"
    label: ClassVar[str] = "provisions run"

    caller: str
    model_version: str
    bundle_hash: str
    as_of: int
    standard: str
    method: str
    scores_request: str
    input_sha256: str
    outputs: dict[str, str] = field(default_factory=dict)
    folder: str = ""
    companies: int = 0
    ecl: float = 0.0
    by_stage: dict[str, dict[str, float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    ts: str = ""
    seq: int = 0

    def check(self) -> None:
        """Refuse a run the trail cannot hold faithfully."""
        if not self.caller or len(self.caller) > MAX_TEXT:
            raise AuditError(f"a provisions run names its caller in 1 to {MAX_TEXT} characters, not {self.caller!r}")
        if self.standard not in ("ifrs9", "cecl"):
            raise AuditError(f"standard={self.standard!r} is unknown; use ifrs9 or cecl")
        if len(self.folder) > 4096:
            raise AuditError(f"a provisions run's folder is at most 4096 characters, not {len(self.folder)}")
        hashes: dict[str, Any] = {"input": self.input_sha256, **self.outputs}
        bad = [name for name, h in hashes.items() if not isinstance(h, str) or not _SHA256.fullmatch(h)]
        if bad:
            raise AuditError(f"the SHA-256 of {', '.join(bad)} is not 64 hexadecimal digits")

    def head(self) -> EventHead:
        """The caller and the model are the head's."""
        return EventHead(caller=self.caller, model_version=self.model_version, bundle_hash=self.bundle_hash)
