"""``audit find``: a company's recorded scores, by its id or by an input's exact value (a redacted name too)."""

from __future__ import annotations

import argparse

from riskcore.cli.common import EXIT_OK, say
from riskcore.errors import ConfigError
from riskcore.workbench import Workbench

__all__ = ["add_audit_find_parser"]

_SHOWN = ("seq", "ts", "request_id", "source", "model_version", "p_default", "decision", "grade", "company_id")


def add_audit_find_parser(audit_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``audit find --company ID`` or ``audit find --column NAME --value TEXT``."""
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
