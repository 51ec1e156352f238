"""`ews users add|remove|list`: the console's users. The password is read from the terminal
(twice) or, with `--password-stdin`, from the first line of standard input (scripts, Ansible);
it is never an argument, which would leave it in the shell history and the process list."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable

from hub.cliargs import bind_site_command, data_folder_of
from hub.config import SiteConfig
from hub.console.users import DATABASE_NAME, ROLES, UserError, UserStore

EXIT_OK, EXIT_FAILURE = 0, 1


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _store(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> UserStore:
    config = load(args.config)
    folder = data_folder_of(args, config)
    return UserStore(folder / DATABASE_NAME)


def cmd_add(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    store = _store(args, load)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("ews users: the passwords differ", file=sys.stderr)
            return EXIT_FAILURE
    try:
        user = store.add(args.name, args.role, password)
    except UserError as error:
        print(f"ews users: {error}", file=sys.stderr)
        return EXIT_FAILURE
    store.audit(_now_ms(), "cli", "user_add", {"name": user.name, "role": user.role}, "cli")
    print(f"user {user.name} ({user.role}) added")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    store = _store(args, load)
    if not store.remove(args.name):
        print(f"ews users: no user {args.name!r}", file=sys.stderr)
        return EXIT_FAILURE
    store.audit(_now_ms(), "cli", "user_remove", {"name": args.name}, "cli")
    print(f"user {args.name} removed (a running hub ends their session at its expiry)")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    for user in _store(args, load).list():
        print(f"{user.name:<24} {user.role}")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction, load: Callable[[str], SiteConfig]) -> None:
    """Register `ews users …` on the top-level parser."""
    parser = commands.add_parser("users", help="people who may log in to the operator console")
    sub = parser.add_subparsers(dest="users_command", required=True)

    add = sub.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name", help="login name")
    add.add_argument("--role", choices=ROLES, required=True, help="viewer, operator or admin")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    bind_site_command(add, cmd_add, load)
    remove = sub.add_parser("remove", help="delete a user")
    remove.add_argument("name")
    bind_site_command(remove, cmd_remove, load)
    listing = sub.add_parser("list", help="list users and roles")
    bind_site_command(listing, cmd_list, load)
