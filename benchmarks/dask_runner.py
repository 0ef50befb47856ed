"""Stopgap for ``python -m riskcore score --engine dask`` until the command line offers it.

Does what the command will do: open the model (verified once), start or reach the cluster, score the
partitions, record the job as one audit request. Prints one JSON line with the job's figures, each
partition's worker and that worker's own peak resident memory.

    .venv/bin/python benchmarks/dask_runner.py --model BUNDLE --input FOLDER --output OUT [--workers 2]
                                               [--scheduler tcp://HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Score the partitions; exit 0, or 1 when rows were rejected (as ``score`` does)."""
    from riskcore.config import load_settings, set_thread_defaults

    set_thread_defaults()
    from riskcore.serving.audit import AuditLog
    from riskcore.serving.batch import FileRequest
    from riskcore.serving.cluster import open_cluster
    from riskcore.serving.distributed import score_partitions
    from riskcore.workflows import default_caller, open_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    settings = load_settings()
    bundle = open_model(args.model, settings)
    audit = AuditLog(settings.resolved_audit_url)
    with open_cluster(args.scheduler, args.workers) as client:
        job = score_partitions(bundle, args.input, args.output, client=client, audit=audit,
                               request=FileRequest(face="cli", caller=default_caller("cli")))
    peaks: dict[str, int] = {}
    for p in job.partitions:
        peaks[p.worker] = max(peaks.get(p.worker, 0), p.peak_rss_bytes)
    print(json.dumps({"request_id": job.request_id, "rows": job.n_rows, "scored": job.n_scored,
                      "rejected": job.n_rejected, "partitions": len(job.partitions),
                      "worker_peak_mb": {w: v / 2**20 for w, v in sorted(peaks.items())},
                      "partition_seconds": sum(p.seconds for p in job.partitions),
                      "client_audit_s": job.timings["audit"], "job_s": job.timings["total"],
                      "wall_s": time.perf_counter() - started}))
    return 1 if job.n_rejected else 0


if __name__ == "__main__":
    raise SystemExit(main())
