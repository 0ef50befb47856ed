"""Command line of the API: serve it, and manage its keys.

::

    python -m api [--host 127.0.0.1] [--port 8000] [--workers 1]    # serve (the default command)
    python -m api serve --port 8000
    python -m api keys add --role service [--name billing]           # prints the new key once
    python -m api keys list
    python -m api keys revoke KEY_ID

The model served is ``$RISKCORE_API_BUNDLE`` (a bundle folder) or the model
registry's champion; state lives in ``$RISKCORE_HOME`` (see
:func:`riskcore.config.load_settings`). Exit statuses: 0 done, 1 the key file
cannot be read or names no such key, 2 bad arguments, and for an error of the
engine its class's ``exit_status`` (3 invalid settings; see :mod:`riskcore.errors`).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from api.http import NoDelayH11Protocol
from riskcore.config import load_settings, set_thread_defaults
from riskcore.errors import RiskcoreError
from riskcore.identity import KEY_ROLES, IdentitySettings, KeyFileError, KeyStore
from riskcore.workbench import WorkerProcesses

EXIT_OK, EXIT_USAGE = 0, 2


def _add_serve_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    p.add_argument("--host", default=default("127.0.0.1"), help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=default(8000), help="port (default 8000)")
    p.add_argument("--workers", type=int, default=default(1),
                   help="worker processes (default 1; each its own model server, all on one audit trail and one "
                        "rate limit per key)")
    p.add_argument("--log-level", default=default("info"),
                   choices=["critical", "error", "warning", "info", "debug"], help="log level (default info)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api", description="The riskcore REST API.")
    _add_serve_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="{serve,keys}")
    serve = sub.add_parser("serve", help="serve the API with uvicorn (the default command)")
    _add_serve_options(serve, suppress=True)
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    ksub = keys.add_subparsers(dest="keys_command", metavar="{add,list,revoke}", required=True)
    add = ksub.add_parser("add", help="create a key and print it (it is shown only this once)")
    add.add_argument("--role", required=True, choices=KEY_ROLES, help="what the key may do")
    add.add_argument("--name", default="", help="who or what uses the key (shown by 'keys list')")
    ksub.add_parser("list", help="list the keys (never the keys themselves)")
    revoke = ksub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's id, as shown by 'keys list'")
    return parser


def _serve(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        print(f"error: --port {args.port} must be between 1 and 65535", file=sys.stderr)
        return EXIT_USAGE
    if args.workers < 1:
        print(f"error: --workers {args.workers} must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        count = load_settings().jobs.api_workers
    except RiskcoreError as err:  # the app itself reports bad settings when it starts
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    # the job workers run beside the API's processes, not inside them: a portfolio scored for minutes never
    # holds an API worker's interpreter, and stopping the API gives their running jobs back to the queue
    workers = WorkerProcesses(count).start()
    # uvicorn shuts down on SIGTERM, then raises the signal again for the handler it found: the default one
    # would end this process before the workers are stopped (they would finish their jobs unwatched)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, http=NoDelayH11Protocol)
    except _Stopped:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        workers.stop()
    return EXIT_OK


class _Stopped(Exception):
    """SIGTERM, once uvicorn has shut down."""


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _keys(args: argparse.Namespace) -> int:
    store = KeyStore(IdentitySettings.from_settings(load_settings()).keys_file)
    if args.keys_command == "add":
        record, secret = store.add(args.role, args.name)
        print(f"Created key {record.id} (role {record.role}{', ' + record.name if record.name else ''}).")
        print("Send it in the X-API-Key header. It is shown only now; store it somewhere safe:")
        print(secret)
        return EXIT_OK
    if args.keys_command == "list":
        keys = store.keys()
        if not keys:
            print(f"No API keys in {store.path}. Create one with: python -m api keys add --role service")
            return EXIT_OK
        print(f"{'id':16s} {'role':8s} {'status':8s} {'created (UTC)':26s} name")
        for k in keys:
            status = "revoked" if k.revoked else "active"
            print(f"{k.id:16s} {k.role:8s} {status:8s} {k.created_at:26s} {k.name}")
        return EXIT_OK
    record = store.revoke(args.key_id)
    print(f"Key {record.id} ({record.role}) is revoked since {record.revoked_at}; requests with it now get 401.")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    set_thread_defaults()
    args = _parser().parse_args(argv)
    try:
        if args.command == "keys":
            return _keys(args)
        return _serve(args)
    except (KeyFileError, RiskcoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
