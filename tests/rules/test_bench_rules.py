"""The rules benchmark builds its 500-sensor site from the Kazanlak config and exercises the rules
(a small run here; `python -m bench --only rules` measures)."""

from __future__ import annotations

from bench.rules import RulesSettings, clone_site, make_stream, run


def test_cloned_site_keeps_the_rules_and_names_the_clones() -> None:
    rules, specs = clone_site(500)
    assert len(specs) == 500
    level = next(rule for rule in rules if rule.id == "tundzha-kazanlak-level")
    assert level.select.sensors[:2] == ["tundzha-kazanlak", "tundzha-kazanlak~1"]
    assert {spec.area for spec in specs.values()} == {s.area for s in clone_site(28)[1].values()}


def test_small_run_reports_evaluations_and_conditions() -> None:
    result = run(RulesSettings(sensors=60, minutes=90, repeats=1))
    assert result.failures == []
    assert result.rows[0].unit == "eval/s" and result.rows[0].value > 0
    assert result.details["conditions"] > 0
    stream = make_stream(clone_site(60)[1], 5, 1)
    assert [r.ts_ms for r in stream] == sorted(r.ts_ms for r in stream)
