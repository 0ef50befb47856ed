"""``python -m riskcore audit …``: verify the trail, export a period, archive the oldest years, find a company.

``audit find`` lists a company's scores by its id or by an input's exact value, a redacted name too.
"""

from __future__ import annotations

import argparse

from riskcore.cli.common import EXIT_OK, EXIT_PROBLEMS, say
from riskcore.errors import ConfigError
from riskcore.progress import TextProgress
from riskcore.workbench import Workbench, default_caller

__all__ = ["add_audit_parser"]

_SHOWN = ("seq", "ts", "request_id", "source", "model_version", "p_default", "decision", "grade", "company_id")


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify the hash chain (from the anchor; with --archives the whole history), or an export offline."""
    if args.export:
        check = Workbench().verify_export(args.export, against_trail=args.against_trail, url=args.url)
        say(check.summary())
        return EXIT_OK if check.ok else EXIT_PROBLEMS
    result = Workbench().verify_audit(args.url, archives=args.archives)
    say(result.message)
    if result.ok:
        say(f"last head: {result.requests:,}, hash {result.last_hash}")
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Write every score of a period as Parquet with the chain heads that cover it, for an examiner."""
    written = Workbench().export_audit(since=args.since, until=args.until, out=args.out,
                                       actor=default_caller("cli"))
    say(written.summary())
    say(f"Check it without the database: python -m riskcore audit verify --export {written.folder}")
    return EXIT_OK


def cmd_audit_archive(args: argparse.Namespace) -> int:
    """Move the requests older than the cut-off into a verified archive, leaving an anchor in the live trail."""
    done = Workbench().archive_audit(before=args.before, out=args.out, vacuum=args.vacuum,
                                     actor=default_caller("cli"), progress=TextProgress())
    say(done.summary())
    return EXIT_OK


def cmd_audit_find(args: argparse.Namespace) -> int:
    """Print the scores found, newest first; say when a value was looked for by its salted hash."""
    if args.column is not None and args.value is None:
        raise ConfigError("--column needs --value: the exact value looked for, e.g. --value \"ACME Ltd\"")
    if args.limit < 1:
        raise ConfigError(f"--limit {args.limit} must be at least 1, e.g. 20")
    column, value = (None, args.company) if args.company is not None else (args.column, args.value)
    found = Workbench().find_scores(value, column=column, limit=args.limit)
    what = "company id" if column is None else f"input {column!r}"
    how = " (as given and as its salted hash)" if found.by_hash else ""
    scores = found.scores
    if not len(scores):
        say(f"No recorded score has that {what}{how}.")
    else:
        say(f"{len(scores)} recorded score(s) with that {what}{how}, newest first:")
        say(scores.loc[:, list(_SHOWN)].to_string(index=False))
    if found.other_keys:
        say(f"Warning: {found.other_keys:,} value(s) of {column!r} were hashed with another salt and cannot match; "
            "every process that writes this audit trail must use one salt ($RISKCORE_AUDIT_SALT).")
    return EXIT_OK


def add_audit_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``audit verify``, ``audit export``, ``audit archive`` and ``audit find``."""
    p = sub.add_parser("audit", help="the audit trail: verify it, export a period, archive the oldest years")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    v = audit_sub.add_parser("verify", help="verify the hash chain and name the first altered row; or an export, "
                                            "offline")
    v.add_argument("--url", help="audit database URL (default: the settings')")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--archives", metavar="DIR",
                   help="also verify every archive in DIR from its files, chained to the anchor: the whole history")
    g.add_argument("--export", metavar="DIR",
                   help="verify an export or archive folder from its files alone, without the database")
    v.add_argument("--against-trail", action="store_true",
                   help="with --export: also compare its last head with the live trail's (rules out a forged folder)")
    v.set_defaults(func=cmd_audit_verify)

    e = audit_sub.add_parser("export", help="write every score of a period as Parquet an examiner verifies offline")
    e.add_argument("--since", required=True, help="the first day (or time, UTC) of the period, e.g. 2026-01-01")
    e.add_argument("--until", required=True, help="the day (or time, UTC) after the period, e.g. 2027-01-01")
    e.add_argument("--out", required=True, help="a new folder to write the export to")
    e.set_defaults(func=cmd_audit_export)

    a = audit_sub.add_parser("archive", help="move the requests older than the cut-off into verified archives")
    a.add_argument("--before", help="archive the requests recorded before this date (UTC); default: today less "
                                    "[audit] retain_years")
    a.add_argument("--out", help="the folder holding the archives (default: audit-archives in the state folder)")
    a.add_argument("--vacuum", action="store_true",
                   help="then VACUUM the database so the removed rows' space is given back (SQLite) or reusable")
    a.set_defaults(func=cmd_audit_archive)

    f = audit_sub.add_parser("find", help="a company's recorded scores, by its id or an input's exact value",
                             description="List a company's recorded scores, newest first. A redacted input (a "
                                         "company name, a contact's e-mail) is stored only as a salted hash: "
                                         "the value given is hashed with this state folder's salt and looked up.")
    g = f.add_mutually_exclusive_group(required=True)
    g.add_argument("--company", metavar="ID", help="the company's id")
    g.add_argument("--column", metavar="NAME", help="an input as recorded, e.g. company_name (with --value)")
    f.add_argument("--value", help="with --column: the exact value looked for, e.g. \"ACME Ltd\"")
    f.add_argument("--limit", type=int, default=20, help="at most this many scores (default 20)")
    f.set_defaults(func=cmd_audit_find)
