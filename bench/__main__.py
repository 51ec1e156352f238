"""`python -m bench`: run every benchmark entry, print one table (figure, unit, our value, the limit
measured in the same run, ratio) and write each entry's full results as JSON to bench/results/.
Exits with 1 when a run lost data or stalled (the figures of such a run mean nothing), and with 0
otherwise, also when a ratio is below its target (marked LOW in the table)."""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import orjson

from bench import BenchResult, format_table, ratio_text
from bench.alarm_latency import LatencySettings
from bench.alarm_latency import run as run_latency
from bench.camera import CameraSettings
from bench.camera import run as run_camera
from bench.ingest import IngestSettings
from bench.ingest import run as run_ingest
from bench.modbus import ModbusSettings
from bench.modbus import run as run_modbus
from bench.rules import RulesSettings
from bench.rules import run as run_rules
from bench.seismic import SeismicSettings
from bench.seismic import run as run_seismic
from bench.notify import NotifySettings
from bench.notify import run as run_notify

RESULTS = Path(__file__).resolve().parent / "results"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000, help="Messages per run (default 200,000).")
    parser.add_argument("--sensors", type=int, default=100, help="Sensors the messages are spread over (default 100).")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Times each QoS 1 pair (bare subscriber, hub) is measured; figures are medians (default 3).")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="3.1.1",
                        help="MQTT protocol of the main comparison (default 3.1.1, the hub's default).")
    parser.add_argument("--no-other-protocol", action="store_true",
                        help="Skip the runs with the other MQTT protocol (hub and bare subscriber).")
    parser.add_argument("--profile", action="store_true",
                        help="Also run the hub once under cProfile and print where its threads spend their time.")
    parser.add_argument("--modbus-seconds", type=float, default=5.0,
                        help="Seconds each Modbus reads/s figure is measured (default 5).")
    parser.add_argument("--rule-sensors", type=int, default=500,
                        help="Sensors the Kazanlak rule set is applied to in the rules entry (default 500).")
    parser.add_argument("--only", choices=("ingest", "modbus", "rules", "latency", "seismic", "notify", "camera"), help="Run one entry only.")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Folder for the JSON results.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    settings = IngestSettings(
        messages=args.messages,
        sensors=args.sensors,
        repeats=args.repeat,
        protocol=args.protocol,
        other_protocol=None if args.no_other_protocol else ("3.1.1" if args.protocol == "5" else "5"),
        profile=args.profile,
        results_folder=args.results,
    )
    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="ews-bench-") as workdir:
        if args.only in (None, "ingest"):
            print(f"ingest: {settings.messages:,} messages from {settings.sensors} sensors per run, "
                  f"{settings.repeats} repeats", file=sys.stderr)
            results.append(run_ingest(settings, Path(workdir)))
        if args.only in (None, "modbus"):
            modbus = ModbusSettings(seconds=args.modbus_seconds)
            print(f"modbus: {modbus.fleet} simulated devices, reads/s for {modbus.seconds:g} s each", file=sys.stderr)
            results.append(run_modbus(modbus, Path(workdir)))
        if args.only in (None, "rules"):
            rules = RulesSettings(sensors=args.rule_sensors)
            print(f"rules: Kazanlak rule set over {rules.sensors} sensors, {rules.minutes} simulated minutes, "
                  f"{rules.repeats} repeats", file=sys.stderr)
            results.append(run_rules(rules))
        if args.only in (None, "latency"):
            latency = LatencySettings()
            print(f"latency: {latency.sensors} gauges, {latency.background_per_s:,} readings/s background, "
                  f"a probe every {latency.probe_period_s * 1000:g} ms for {latency.seconds:g} s", file=sys.stderr)
            results.append(run_latency(latency, Path(workdir)))

        if args.only in (None, "seismic"):
            seismic = SeismicSettings()
            print(f"seismic: {seismic.stations} stations x {seismic.seconds} s at {seismic.sampling_rate_hz:g} Hz, "
                  f"1 s packets, vs ObsPy's recursive_sta_lta", file=sys.stderr)
            results.append(run_seismic(seismic))
        if args.only in (None, "notify"):
            notify = NotifySettings()
            print(f"notify: fan-out of {notify.recipients:,} recipients queued, {notify.send_messages:,} messages "
                  f"sent through the twilio SDK to a local server, {notify.repeats} repeats", file=sys.stderr)
            results.append(run_notify(notify, Path(workdir)))
        if args.only in (None, "camera"):
            camera = CameraSettings()
            print(f"camera: analysed frames/s per core at {', '.join(f'{w}x{h}' for w, h in camera.sizes)}, "
                  f"{camera.seconds:g} s per figure", file=sys.stderr)
            results.append(run_camera(camera))

    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    for result in results:
        document = {"benchmark": result.name, "finished_at": stamp, "failures": result.failures, **result.details}
        (args.results / f"{result.name}.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))

    print()
    print(format_table([row for result in results for row in result.rows]))
    for result in results:
        for row in result.rows:
            if row.meets_target is False:
                print(f"{result.name}: below target: {row.figure}: ratio {ratio_text(row)} < {row.target:.2f}")
        for note in result.notes:
            print(f"\n{note}")
    failures = [f"{result.name}: {failure}" for result in results for failure in result.failures]
    print(f"\nresults: {args.results}/ ({', '.join(result.name + '.json' for result in results)})")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
