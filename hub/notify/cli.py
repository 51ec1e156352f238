"""`ews subscribers add|remove|list|import|export`: the citizens' registry from the command line,
checked against the site's areas. An import reports every bad row with its line number and
reason and still takes the good ones (exit code 1 when any row was bad)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hub.cliargs import bind_site_command, data_folder_of
from hub.config import SiteConfig
from hub.notify.service import DATABASE_NAME
from hub.notify.subscribers import (InvalidPhoneError, Subscriber, SubscriberError, SubscriberStore, parse_csv,
                                    to_csv)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _store(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> tuple[SiteConfig, SubscriberStore]:
    config = load(args.config)
    folder = data_folder_of(args, config)
    region = config.notify.sms.default_region if config.notify.sms else "BG"
    return config, SubscriberStore(folder / DATABASE_NAME, region)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def cmd_add(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    config, store = _store(args, load)
    known = {area.id for area in config.areas}
    areas = _split(args.areas)
    unknown = [a for a in areas if a not in known]
    if unknown:
        print(f"unknown area(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})", file=sys.stderr)
        return EXIT_USAGE
    try:
        added = store.add(Subscriber(args.phone, areas, _split(args.hazards), args.language, True, _now_ms(), "cli"))
    except (InvalidPhoneError, SubscriberError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"added {added.phone}: areas {', '.join(added.areas)}; hazards {', '.join(added.hazards) or 'all'}; "
          f"language {added.language}")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    _, store = _store(args, load)
    try:
        store.remove(args.phone)
    except (InvalidPhoneError, SubscriberError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"removed {args.phone}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    _, store = _store(args, load)
    subscribers = [s for s in store.all() if args.area is None or args.area in s.areas]
    for s in subscribers:
        state = "in" if s.opted_in else "OUT"
        extra = f"  undeliverable: {s.undeliverable}" if s.undeliverable else ""
        print(f"{s.phone}  {s.language}  opted-{state} ({s.opt_source})  areas {','.join(s.areas)}  "
              f"hazards {','.join(s.hazards) or 'all'}{extra}")
    print(f"{len(subscribers)} subscriber(s)")
    return EXIT_OK


def cmd_import(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    config, store = _store(args, load)
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"{args.file}: cannot read: {error}", file=sys.stderr)
        return EXIT_USAGE
    good, errors = parse_csv(text, frozenset(a.id for a in config.areas), store.default_region, _now_ms(),
                             f"import:{Path(args.file).name}")
    store.add_many(good)
    for line, reason in errors:
        print(f"{args.file}:{line}: {reason}", file=sys.stderr)
    print(f"imported {len(good)} subscriber(s); {len(errors)} row(s) refused")
    return EXIT_FAILURE if errors else EXIT_OK


def cmd_export(args: argparse.Namespace, load: Callable[[str], SiteConfig]) -> int:
    _, store = _store(args, load)
    sys.stdout.write(to_csv(store.all()))
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction, load: Callable[[str], SiteConfig]) -> None:
    """Register `ews subscribers …` on the top-level parser."""
    parser = commands.add_parser("subscribers", help="citizens who receive SMS warnings")
    sub = parser.add_subparsers(dest="subscribers_command", required=True)

    add = sub.add_parser("add", help="add or update a subscriber")
    add.add_argument("phone", help="mobile number, e.g. 0888 123 456 or +359888123456")
    add.add_argument("--areas", required=True, help="comma-separated area ids")
    add.add_argument("--hazards", default="", help="comma-separated hazards (default: all)")
    add.add_argument("--language", choices=("bg", "en"), default="bg", help="language of messages")
    bind_site_command(add, cmd_add, load)
    remove = sub.add_parser("remove", help="delete a subscriber")
    remove.add_argument("phone")
    bind_site_command(remove, cmd_remove, load)
    listing = sub.add_parser("list", help="list subscribers")
    listing.add_argument("--area", default=None, help="only this area")
    bind_site_command(listing, cmd_list, load)
    imports = sub.add_parser("import", help="add subscribers from a CSV file (phone,areas[,hazards][,language])")
    imports.add_argument("file")
    bind_site_command(imports, cmd_import, load)
    export = sub.add_parser("export", help="write every subscriber as CSV to standard output")
    bind_site_command(export, cmd_export, load)
