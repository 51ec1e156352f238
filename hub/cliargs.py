"""Arguments every `ews` command that works on a site shares: the site config file and, for
commands that touch the hub's files, its data folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from hub.config import SiteConfig, data_dir


def add_site_arguments(parser: argparse.ArgumentParser, *, data_folder: bool = False,
                       config_help: str = "site YAML file") -> None:
    """`-c/--config` (required) and, with `data_folder`, `--data-dir`."""
    parser.add_argument("-c", "--config", required=True, help=config_help)
    if data_folder:
        parser.add_argument("--data-dir", default=None,
                            help="the hub's data folder: state, spool, alarms (default: hub.data_dir of the config)")


def data_folder_of(args: argparse.Namespace, config: SiteConfig) -> Path:
    """`--data-dir` when given, else the config's `hub.data_dir` resolved against its file."""
    return Path(args.data_dir) if args.data_dir else data_dir(config, args.config)


def bind_site_command(parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace, Callable], int],
                      load: Callable[[str], SiteConfig]) -> None:
    """A sub-command of a package's command group (`ews users add`, `ews subscribers list`):
    the site arguments with the data folder, and `handler(args, load)` as what it runs."""
    add_site_arguments(parser, data_folder=True)
    parser.set_defaults(handler=lambda args: handler(args, load))
