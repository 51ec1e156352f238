"""The `ews` command: check a config, run the hub, prepare InfluxDB, inspect set-aside inputs, and
run the demo. Exit codes: 0 success, 1 runtime failure, 2 a config or usage error."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from hub.cliargs import add_site_arguments, data_folder_of
from hub.config import SiteConfig, load_config
from hub.configbase import ConfigError, SecretMissingError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _load(path: str) -> SiteConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"{error.source}: {len(error.issues)} error(s)", file=sys.stderr)
        for issue in error.issues:
            print(f"  {issue}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a config and print a summary."""
    config = _load(args.config)
    kinds = Counter(sensor.kind for sensor in config.sensors)
    sources = Counter(
        (s.source.mqtt.format if s.source.mqtt else "modbus") if s.source else "normalised" for s in config.sensors
    )
    print(f"{args.config}: OK — site {config.site.id} ({config.site.name})")
    print(f"  areas:   {len(config.areas)}")
    print(f"  sensors: {len(config.sensors)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    print(f"  inputs:  {', '.join(f'{k} {n}' for k, n in sorted(sources.items()))}")
    print(f"  cameras: {len(config.cameras)}   rules: {len(config.rules)}")
    print(f"  mqtt:    {config.mqtt.host}:{config.mqtt.port} root {config.topic_root}")
    print(f"  influx:  {config.influx.url} database {config.influx.database}")
    missing = [name for name in (config.mqtt.password_env, config.influx.password_env, config.influx.token_env)
               if name is not None and name not in os.environ]
    if missing:
        print(f"  note: environment variables not set here: {', '.join(missing)}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the hub until SIGINT or SIGTERM."""
    from hub.app import run_hub_async

    config = _load(args.config)
    folder = data_folder_of(args, config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        await run_hub_async(config, folder, stop)

    try:
        asyncio.run(main())
    except SecretMissingError as error:
        print(f"ews run: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def cmd_influx_init(args: argparse.Namespace) -> int:
    """Create the database and its retention policy (InfluxDB 1.x)."""
    from hub.influx import InfluxClient, InfluxError

    config = _load(args.config)
    influx = config.influx
    client = InfluxClient(influx)
    name, duration = influx.retention.name, influx.retention.duration
    try:
        client.create_database()
        existing = client.query(f'SHOW RETENTION POLICIES ON "{influx.database}"')
        names = {row[0] for series in existing[0].get("series", []) for row in series["values"]}
        verb = "ALTER" if name in names else "CREATE"
        client.query(
            f'{verb} RETENTION POLICY "{name}" ON "{influx.database}" DURATION {duration} REPLICATION 1 DEFAULT',
            method="POST",
        )
    except InfluxError as error:
        print(f"ews influx init: {error}", file=sys.stderr)
        print("  (InfluxDB 2.x/3: create the bucket and a DBRP mapping with the influx CLI instead)", file=sys.stderr)
        return EXIT_FAILURE
    print(f"database {influx.database!r} at {influx.url}: retention policy {name!r} ({duration}) is the default")
    return EXIT_OK


def cmd_deadletters(args: argparse.Namespace) -> int:
    """Print the newest inputs that were set aside."""
    from hub.deadletter import DeadLetterStore

    config = _load(args.config)
    folder = data_folder_of(args, config)
    store = DeadLetterStore(folder / "deadletter.sqlite")
    for letter in store.recent(args.limit, args.reason):
        when = datetime.fromtimestamp(letter.received_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        print(f"{when}  {letter.reason:<16} {letter.sensor or '-':<24} {letter.topic}")
        print(f"    {letter.detail}")
        print(f"    payload: {letter.payload[:200]!r}")
    store.close()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo (local services, hub, simulated devices)."""
    from firmware_sim.scenario import ScenarioError
    from hub.demo import run_demo, run_scenario_demo

    if args.speed is not None and args.speed <= 0:
        print("--speed must be positive (scenario seconds per second)", file=sys.stderr)
        return EXIT_CONFIG
    if args.scenario is None:
        return run_demo(Path(args.config), Path(args.workdir), args.rounds, args.keep)
    try:
        return run_scenario_demo(Path(args.config), Path(args.workdir), args.scenario, args.speed, args.keep)
    except (ScenarioError, ConfigError) as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG


def cmd_sim_modbus(args: argparse.Namespace) -> int:
    """Serve simulated Modbus devices until Ctrl-C."""
    from firmware_sim.modbus_devices import ProfileError, run_simulators

    try:
        return run_simulators(args.profiles, args.port, args.accelerate)
    except ProfileError as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    except OSError as error:
        print(f"ews sim modbus: {error}", file=sys.stderr)
        return EXIT_FAILURE


def cmd_replay(args: argparse.Namespace) -> int:
    """Feed recorded readings through the configured rules; print each alarm event as JSON."""
    import orjson

    from hub.config import sensor_specs
    from hub.replay import event_line, replay_events
    from rules.replay import ReplayError, load_readings

    config = _load(args.config)
    specs = sensor_specs(config)
    if args.sensor is not None and args.sensor not in specs:
        print(f"ews replay: sensor {args.sensor!r} is not in {args.config}", file=sys.stderr)
        return EXIT_CONFIG
    fmt = args.format or ("jsonl" if str(args.input).endswith((".jsonl", ".json")) else "csv")
    if args.format in ("mseed", "sac") or (args.format is None and str(args.input).lower().endswith(
            (".mseed", ".miniseed", ".msd", ".sac"))):
        return _replay_waveforms(config, args)
    count = 0
    try:
        for event in replay_events(config, load_readings(Path(args.input), fmt, specs, args.sensor)):
            sys.stdout.write(orjson.dumps(event_line(event)).decode() + "\n")
            count += 1
    except (ReplayError, OSError) as error:
        print(f"ews replay: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{count} alarm events", file=sys.stderr)
    return EXIT_OK


def _replay_waveforms(config, args: argparse.Namespace) -> int:
    """Waveform files: trigger on/off and alarm events as JSON lines (see hub.seismic_wiring)."""
    import orjson

    from adapters.seismic.files import WaveformFileError
    from hub.seismic_wiring import replay_waveforms

    count = 0
    try:
        for line in replay_waveforms(config, Path(args.input), args.format, args.sensor):
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
            count += 1
    except (WaveformFileError, ValueError, OSError) as error:
        print(f"ews replay: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{count} trigger and alarm events", file=sys.stderr)
    return EXIT_OK


def _alarm_store(args: argparse.Namespace):
    from hub.alarms import AlarmStore

    config = _load(args.config)
    folder = data_folder_of(args, config)
    return config, AlarmStore(folder / "alarms.sqlite")


def cmd_alarms_list(args: argparse.Namespace) -> int:
    """Print the open alarms, most severe first."""
    from hub.alarms import AlarmManager

    config, store = _alarm_store(args)
    alarms = AlarmManager(store, config.alarms).open_alarms()
    for alarm in alarms:
        since = datetime.fromtimestamp(alarm.opened_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        ack = f" ack by {alarm.acknowledged_by}" if alarm.acknowledged_by else ""
        print(f"#{alarm.id:<5} {alarm.level:<7} {alarm.state:<12} {alarm.rule:<28} {alarm.subject:<24} since {since}{ack}")
    print(f"{len(alarms)} open alarm(s)")
    return EXIT_OK


def cmd_silence(args: argparse.Namespace) -> int:
    """Add, list or remove silences (maintenance windows); a running hub sees them within a tick."""
    import time as _time

    from hub.alarms import AlarmError, AlarmManager

    config, store = _alarm_store(args)
    manager = AlarmManager(store, config.alarms)
    now_ms = _time.time_ns() // 1_000_000
    try:
        if args.silence_command == "add":
            matcher, value = next((m, getattr(args, m)) for m in ("sensor", "area", "rule") if getattr(args, m))
            silence = manager.add_silence(matcher, value, now_ms, now_ms + int(args.hours * 3_600_000), args.by,
                                          args.comment)
            until = datetime.fromtimestamp(silence.ends_ms / 1000, tz=UTC).isoformat(timespec="minutes")
            print(f"silence #{silence.id}: {matcher} {value} until {until}")
        elif args.silence_command == "remove":
            manager.remove_silence(args.id, args.by, now_ms)
            print(f"silence #{args.id} removed")
        else:
            for silence in manager.silences(now_ms):
                until = datetime.fromtimestamp(silence.ends_ms / 1000, tz=UTC).isoformat(timespec="minutes")
                print(f"#{silence.id:<4} {silence.matcher} {silence.value:<24} until {until}  "
                      f"by {silence.created_by}: {silence.comment}")
    except AlarmError as error:
        print(f"ews silence: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `ews`."""
    parser = argparse.ArgumentParser(prog="ews", description="Early-warning hub for municipalities.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="validate a site config")
    add_site_arguments(check)
    check.set_defaults(handler=cmd_check)

    run = commands.add_parser("run", help="run the hub")
    add_site_arguments(run, data_folder=True)
    run.set_defaults(handler=cmd_run)

    influx = commands.add_parser("influx", help="InfluxDB administration")
    influx_commands = influx.add_subparsers(dest="influx_command", required=True)
    init = influx_commands.add_parser("init", help="create the database and retention policy")
    add_site_arguments(init)
    init.set_defaults(handler=cmd_influx_init)

    dead = commands.add_parser("deadletters", help="show inputs that were set aside")
    add_site_arguments(dead, data_folder=True)
    dead.add_argument("--limit", type=int, default=20, help="how many, newest first")
    dead.add_argument("--reason", help="only this reason (e.g. out_of_range)")
    dead.set_defaults(handler=cmd_deadletters)

    demo = commands.add_parser("demo", help="run the whole system on this machine with the Kazanlak example")
    demo.add_argument("-c", "--config", default="examples/kazanlak/site.yaml", help="site YAML file")
    demo.add_argument("--workdir", default="var/demo", help="folder for the demo's services and data")
    demo.add_argument("--rounds", type=int, default=30, help="rounds of readings the simulated devices send")
    demo.add_argument("--keep", action="store_true", help="leave Mosquitto and InfluxDB running at the end")
    demo.add_argument("--scenario", help="run a drill: a scenario of firmware_sim/scenarios "
                      "(flood, faults, dam, earthquake, wildfire) or a scenario file")
    demo.add_argument("--speed", type=float, help="scenario seconds per second (360: six hours in a minute); "
                      "default: as fast as the hub takes it")
    demo.set_defaults(handler=cmd_demo)

    alarms = commands.add_parser("alarms", help="show the open alarms")
    add_site_arguments(alarms, data_folder=True)
    alarms.set_defaults(handler=cmd_alarms_list)

    silence = commands.add_parser("silence", help="pause notifications for a sensor, area or rule, for a while")
    silence_commands = silence.add_subparsers(dest="silence_command", required=True)
    for name in ("add", "list", "remove"):
        sub = silence_commands.add_parser(name)
        add_site_arguments(sub, data_folder=True)
        sub.set_defaults(handler=cmd_silence)
        if name == "add":
            what = sub.add_mutually_exclusive_group(required=True)
            what.add_argument("--sensor", help="silence alarms of this sensor")
            what.add_argument("--area", help="silence alarms in this area")
            what.add_argument("--rule", help="silence alarms of this rule")
            sub.add_argument("--hours", type=float, required=True, help="how long (bounded by alarms.max_silence_s)")
        if name in ("add", "remove"):
            sub.add_argument("--by", required=True, help="your name")
        if name == "add":
            sub.add_argument("--comment", required=True, help="why (e.g. 'gauge calibration')")
        if name == "remove":
            sub.add_argument("id", type=int, help="the silence's number")

    replay = commands.add_parser("replay", help="feed recorded readings through the rules; print alarm events")
    add_site_arguments(replay, config_help="site YAML file (its rules are used)")
    replay.add_argument("--input", required=True, help="CSV (time, value or field columns, sensor), JSON lines, or miniSEED/SAC waveforms")
    replay.add_argument("--sensor", help="the sensor all rows belong to (when the file has no sensor column)")
    replay.add_argument("--format", choices=("csv", "jsonl", "mseed", "sac"),
                        help="default: from the file name (.jsonl, .mseed/.miniseed/.msd, .sac, else csv)")
    replay.set_defaults(handler=cmd_replay)

    sim = commands.add_parser("sim", help="simulated devices and scenarios")
    sim_commands = sim.add_subparsers(dest="sim_command", required=True)
    sim_modbus = sim_commands.add_parser(
        "modbus", help="serve Modbus TCP devices described by YAML profiles (firmware_sim/profiles) until Ctrl-C"
    )
    sim_modbus.add_argument("profiles", nargs="+", metavar="PROFILE",
                            help="profile file, or the name of a shipped one (e.g. radar_river_gauge); "
                                 "NAME@PORT puts it on PORT, several on one port share a server (a gateway)")
    sim_modbus.add_argument("--port", type=int, default=None,
                            help="port of the first device, the next ones on the following ports "
                                 "(default: each profile's port, or a free one)")
    sim_modbus.add_argument("--accelerate", type=float, default=None,
                            help="simulated seconds per second (default: each profile's time_acceleration)")
    sim_modbus.set_defaults(handler=cmd_sim_modbus)
    from firmware_sim import seismic as seismic_sim

    sim_seismic = sim_commands.add_parser(
        "seismic", help="synthetic accelerograms of an earthquake (and transients): MQTT packets or miniSEED")
    seismic_sim.add_arguments(sim_seismic)
    sim_seismic.set_defaults(handler=seismic_sim.run)

    from firmware_sim.camera_server import add_sim_command as add_sim_camera_command

    add_sim_camera_command(sim_commands)

    from adapters.camera.cli import add_commands as add_camera_commands

    add_camera_commands(commands, _load)

    from dashboards.cli import add_commands as add_dashboards_commands

    add_dashboards_commands(commands, _load)

    from hub.notify.cli import add_commands as add_subscribers_commands

    add_subscribers_commands(commands, _load)

    from hub.console.cli import add_commands as add_users_commands

    add_users_commands(commands, _load)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `ews`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if not args.verbose:
        # Both report every job run and every reconnection attempt; the hub logs what matters once.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("pymodbus").setLevel(logging.ERROR)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
