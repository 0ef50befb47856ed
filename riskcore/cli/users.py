"""``python -m riskcore users …``: the dashboard's users, their roles and passwords (see :mod:`riskcore.identity`).

With no user the dashboard runs as one local user without sign-in; the first ``users add`` turns sign-in on.
Whoever can run these commands can write the state folder, so they ask for no role themselves.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from riskcore.cli.common import EXIT_OK, say
from riskcore.config import load_settings
from riskcore.errors import ConfigError
from riskcore.identity import USER_ROLES, IdentitySettings, UserStore

__all__ = ["add_users_parser"]


def _store() -> UserStore:
    """The users file of the identity settings (in the settings' state folder)."""
    return UserStore(IdentitySettings.from_settings(load_settings()).users_file)


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a prompt that does not echo it.

    Raises
    ------
    riskcore.errors.ConfigError
        When the two typed passwords differ, or standard input is empty.
    """
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ConfigError("--password-stdin read nothing; pipe the password in, e.g. "
                              "printf '%s\\n' \"$PASSWORD\" | python -m riskcore users add NAME --role ROLE "
                              "--password-stdin")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ConfigError("the two passwords differ; run the command again and type the same password twice")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    """Add a user with a role; the password is asked for (or read from standard input), never an argument."""
    store = _store()
    first = not store.has_users()
    user = store.add_user(args.name, args.role, read_password(args.password_stdin))
    say(f"Added {user.name} ({user.role}) to {store.path}")
    if first:
        say("The dashboard now asks everyone to sign in.")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    """Every user with their role, oldest first."""
    store = _store()
    users = store.list_users()
    if not users:
        say("No users: the dashboard runs as one local user without sign-in "
            "(add one with python -m riskcore users add NAME --role ROLE).")
        return EXIT_OK
    say(f"{'user':24s} {'role':10s} created (UTC)")
    for u in users:
        say(f"{u.name:24s} {u.role:10s} {u.created_at[:19].replace('T', ' ')}")
    return EXIT_OK


def cmd_users_remove(args: argparse.Namespace) -> int:
    """Remove a user; their open dashboard sessions end on their next click."""
    store = _store()
    user = store.remove_user(args.name)
    say(f"Removed {user.name} ({user.role}) from {store.path}")
    if not store.has_users():
        say("No users are left: the dashboard runs as one local user without sign-in again.")
    return EXIT_OK


def add_users_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``users`` command and its actions."""
    p = sub.add_parser("users", help="the dashboard's users and roles (sign-in is on once there is one)")
    users_sub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = users_sub.add_parser("add", help="add a user with a role; asks for the password twice")
    u.add_argument("name", help="the user name (letters, digits, . _ @ -)")
    u.add_argument("--role", required=True, choices=USER_ROLES,
                   help="viewer < officer < analyst < validator < admin; each holds the ones before it")
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of "
                                                                 "standard input instead of a prompt")
    u.set_defaults(func=cmd_users_add)
    u = users_sub.add_parser("list", help="every user with their role")
    u.set_defaults(func=cmd_users_list)
    u = users_sub.add_parser("remove", help="remove a user")
    u.add_argument("name", help="the user to remove")
    u.set_defaults(func=cmd_users_remove)
