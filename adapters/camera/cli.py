"""`ews camera -c site.yaml [--camera ID ...] [--url ID=URL ...]`: run a camera worker process."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def cmd_camera(args: argparse.Namespace, load: Callable) -> int:
    """Run the worker for the chosen cameras (all of the site's by default) until SIGINT/SIGTERM."""
    from adapters.camera.worker import run_worker, stream_urls
    from hub.configbase import SecretMissingError

    config = load(args.config)
    known = {camera.id: camera for camera in config.cameras}
    wanted = args.camera or list(known)
    unknown = [camera_id for camera_id in wanted if camera_id not in known]
    if unknown or not wanted:
        print(f"ews camera: unknown camera(s): {', '.join(unknown) or '(the config has none)'} "
              f"(known: {', '.join(known) or 'none'})", file=sys.stderr)
        return EXIT_CONFIG
    overrides = {}
    for item in args.url or []:
        camera_id, separator, url = item.partition("=")
        if not separator or camera_id not in known:
            print(f"ews camera: --url {item!r}: give CAMERA_ID=URL for a configured camera", file=sys.stderr)
            return EXIT_CONFIG
        overrides[camera_id] = url
    cameras = [known[camera_id] for camera_id in wanted]
    try:
        urls = stream_urls(cameras, overrides, os.environ)
    except KeyError as error:
        print(f"ews camera: {error.args[0]}", file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    try:
        run_worker(config, cameras, urls, stop)
    except SecretMissingError as error:
        print(f"ews camera: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction, load: Callable) -> None:
    """Register `ews camera` on the `ews` parser; `load` reads a config or exits with its errors."""
    camera = commands.add_parser("camera", help="run a camera worker: capture, detect, publish over MQTT")
    camera.add_argument("-c", "--config", required=True, help="site YAML file")
    camera.add_argument("--camera", action="append", metavar="ID", help="a camera to serve (repeat; default: all)")
    camera.add_argument("--url", action="append", metavar="ID=URL",
                        help="stream URL of a camera, instead of the environment variable its url_env names")
    camera.set_defaults(handler=lambda args: cmd_camera(args, load))
