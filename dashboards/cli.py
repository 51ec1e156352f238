"""`ews dashboards build|push|render`: regenerate the JSON kept in the repository, upload the
dashboards to a running Grafana, and draw them to PNG from an InfluxDB. `hub.cli` mounts these
subcommands; the config loader is passed in so that config errors read the same everywhere."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hub.config import SiteConfig

from dashboards.build import DEFAULT_CONFIG, JSON_FOLDER, build_dashboards, write_dashboards

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
Loader = Callable[[str], SiteConfig]


def _build(args: argparse.Namespace, load: Loader) -> int:
    config = load(args.config)
    for path in write_dashboards(config, Path(args.out)):
        print(f"wrote {path}")
    return EXIT_OK


def _push(args: argparse.Namespace, load: Loader) -> int:
    from dashboards.push import PushError, push_dashboards

    token = os.environ.get(args.token_env)
    if not token:
        print(f"ews dashboards push: set {args.token_env} to a Grafana service account token "
              "(role Editor) first", file=sys.stderr)
        return EXIT_CONFIG
    config = load(args.config)
    try:
        results = push_dashboards([d.to_json() for d in build_dashboards(config)], args.url, token,
                                  folder_uid=args.folder_uid, folder_title=args.folder)
    except PushError as error:
        print(f"ews dashboards push: {error}", file=sys.stderr)
        return EXIT_FAILURE
    for result in results:
        print(f"{result.action} {result.uid} {result.url or ''}".rstrip())
    return EXIT_OK


def _render(args: argparse.Namespace, load: Loader) -> int:
    from hub.influx import InfluxClient, InfluxError

    from dashboards.render import render_site

    config = load(args.config)
    influx = config.influx.model_copy(update={"url": args.influx} if args.influx else {})
    database = args.database or influx.database
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - int(args.hours * 3_600_000)
    client = InfluxClient(influx)
    try:
        for path in render_site(config, client, database, Path(args.out), start_ms, end_ms):
            print(f"drew {path}")
    except InfluxError as error:
        print(f"ews dashboards render: {error}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        client.close()
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction, load: Loader) -> None:  # type: ignore[type-arg]
    """Add `dashboards build|push|render` to the `ews` parser."""
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards generated from the site config")
    sub = dashboards.add_subparsers(dest="dashboards_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-c", "--config", default=str(DEFAULT_CONFIG), help="site YAML file")

    build = sub.add_parser("build", help="regenerate the dashboards' JSON and the sensors' gazetteer")
    common(build)
    build.add_argument("--out", default=str(JSON_FOLDER.parent), help="folder holding json/ and gazetteer/")
    build.set_defaults(handler=lambda args: _build(args, load))

    push = sub.add_parser("push", help="upload the dashboards to a running Grafana (token from the environment)")
    common(push)
    push.add_argument("--url", required=True, help="Grafana's base URL, e.g. http://grafana:3000")
    push.add_argument("--token-env", default="EWS_GRAFANA_TOKEN", help="environment variable holding the token")
    push.add_argument("--folder", default="Early warning", help="title of the folder to put them in")
    push.add_argument("--folder-uid", default="ews", help="uid of that folder")
    push.set_defaults(handler=lambda args: _push(args, load))

    render = sub.add_parser("render", help="draw the dashboards' main panels to PNG from InfluxDB")
    common(render)
    render.add_argument("--out", required=True, help="folder for the PNG files")
    render.add_argument("--influx", help="InfluxDB URL (default: the config's)")
    render.add_argument("--database", help="database (default: the config's)")
    render.add_argument("--hours", type=float, default=6.0, help="time range ending now, in hours")
    render.set_defaults(handler=lambda args: _render(args, load))
