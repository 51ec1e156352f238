"""The drill's verdict: the scenario's expectations checked against what the hub did — the alarm
transitions seen on its MQTT alarm topics and the citizens' SMS in its outbox (`notify.sqlite`,
table `message`, as hub/notify/README.md describes it) — as a report that says for each
expectation whether it held and, when not, what happened instead."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.scenario import LEVEL_RANK, Scenario
from firmware_sim.scenario_runner import AlarmRecord


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A citizen's SMS as the outbox holds it."""

    event_seq: int
    rule: str
    area: str
    kind: str
    phone: str
    language: str
    body: str
    state: str


def read_outbox(path: Path) -> list[QueuedMessage]:
    """Citizens' messages (warnings and all-clears) in the hub's outbox, in the order queued."""
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as database:
        rows = database.execute(
            "SELECT event_seq, rule, area, kind, phone, language, body, state FROM message "
            "WHERE kind IN ('warning', 'all_clear') ORDER BY id").fetchall()
    return [QueuedMessage(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One expectation and whether it held."""

    passed: bool
    expectation: str
    detail: str


@dataclass(frozen=True, slots=True)
class DrillReport:
    """The verdict of one drill."""

    scenario: str
    title: str
    results: tuple[CheckResult, ...]
    alarms: tuple[AlarmRecord, ...]
    messages: tuple[QueuedMessage, ...]

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return all(result.passed for result in self.results)

    def text(self) -> str:
        """The report for people."""
        failed = sum(not r.passed for r in self.results)
        verdict = "PASSED" if self.passed else f"FAILED ({failed} of {len(self.results)} expectations not met)"
        lines = [f"drill {self.scenario} — {self.title}: {verdict}"]
        lines += [f"  {'ok  ' if r.passed else 'FAIL'} {r.expectation}: {r.detail}" for r in self.results]
        raised = sorted({(a.rule, a.subject) for a in self.alarms})
        lines.append(f"  alarms seen: {len(self.alarms)} transitions of {len(raised)} alarm(s); "
                     f"citizen SMS queued: {len(self.messages)} "
                     f"({sum(m.kind == 'warning' for m in self.messages)} warnings, "
                     f"{sum(m.kind == 'all_clear' for m in self.messages)} all-clear)")
        return "\n".join(lines)


def scenario_clock(seconds: float) -> str:
    """Scenario seconds as `+2h05m`, or `+0h05m12s` off the minute."""
    whole = round(seconds)
    text = f"+{whole // 3600}h{whole // 60 % 60:02d}m"
    return text if whole % 60 == 0 else f"{text}{whole % 60:02d}s"


def check_drill(scenario: Scenario, alarms: list[AlarmRecord], messages: list[QueuedMessage]) -> DrillReport:
    """Check every expectation of `scenario` against the observed alarm transitions and messages."""
    start_ms = scenario.start_ms

    def at(record: AlarmRecord) -> str:
        return scenario_clock((record.ts_ms - start_ms) / 1000)

    results = []
    for expected in scenario.expect.alarms:
        what = (f"{expected.rule} on {expected.subject} "
                + (f"reaches {expected.level}" if expected.state == "active" else "clears")
                + f" by {scenario_clock(expected.by_s)}")
        mine = [r for r in alarms if r.rule == expected.rule and r.subject == expected.subject]
        deadline_ms = start_ms + round(expected.by_s * 1000)
        if expected.state == "active":
            wanted = LEVEL_RANK[expected.level]  # type: ignore[index]
            hits = [r for r in mine if r.state in ("active", "acknowledged") and LEVEL_RANK[r.level] >= wanted]
        else:
            hits = [r for r in mine if r.state in ("cleared", "closed")]
        in_time = [r for r in hits if r.ts_ms <= deadline_ms]
        if in_time:
            results.append(CheckResult(True, what, f"{in_time[0].level} {in_time[0].state} at {at(in_time[0])}"))
        elif hits:
            results.append(CheckResult(False, what, f"too late: only at {at(hits[0])}"))
        elif mine:
            top = max(mine, key=lambda r: LEVEL_RANK[r.level])
            seen = ", ".join(f"{r.event or r.state} {r.level} at {at(r)}" for r in mine)
            results.append(CheckResult(False, what, f"highest level {top.level}; seen: {seen}"))
        else:
            results.append(CheckResult(False, what, "no alarm of this rule on this subject at all"))
    for forbidden in scenario.expect.never:
        what = (f"no {forbidden.rule}" + (f" on {forbidden.subject}" if forbidden.subject else "")
                + (f" at {forbidden.level} or above" if forbidden.level != "info" else ""))
        bad = [r for r in alarms if r.rule == forbidden.rule
               and (forbidden.subject is None or r.subject == forbidden.subject)
               and LEVEL_RANK[r.level] >= LEVEL_RANK[forbidden.level]]
        detail = (f"{bad[0].level} on {bad[0].subject} at {at(bad[0])}" if bad else "none")
        results.append(CheckResult(not bad, what, detail))
    for expected_messages in scenario.expect.messages:
        what = f"at least {expected_messages.at_least} {expected_messages.kind} SMS to {expected_messages.area}"
        count = sum(m.area == expected_messages.area and m.kind == expected_messages.kind for m in messages)
        results.append(CheckResult(count >= expected_messages.at_least, what, f"{count} queued"))
    for area in scenario.expect.no_messages_to:
        count = sum(m.area == area for m in messages)
        results.append(CheckResult(count == 0, f"no citizen SMS to {area}", f"{count} queued"))
    return DrillReport(scenario.name, scenario.title, tuple(results), tuple(alarms), tuple(messages))
