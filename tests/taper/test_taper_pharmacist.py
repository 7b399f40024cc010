"""Plans a pharmacist would sign (issue 19): few strengths, steps of clinical size, notes only
where they apply, the same dates in every output. Expected plans are worked out by hand."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal as D  # noqa: N817 - short, as in the other taper tests
from pathlib import Path

from typer.testing import CliRunner

from opioidcds import Prescription, taper_plan
from opioidcds.cli.app import app
from opioidcds.cli.taper_cmd import parse_request, render_handout

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "taper-example.json"
START = dt.date(2027, 1, 4)
BIGGER = "a bigger step than planned"
FEWER = "already the smallest dispensable dose: one dose a day fewer"
STOPPED = "already the smallest dispensable dose, once a day or one patch: stopped"

CO_CODAMOL = Prescription(
    drug="co-codamol",
    form="tablet",
    strength="30 mg/500 mg",
    dose_quantity=2,
    dose_unit="tablet",
    doses_per_day=4,
)


def _example_plan() -> tuple[object, object]:
    rxs, request = parse_request(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert request.start is not None
    plan = taper_plan(
        rxs,
        start=request.start,
        reduction=request.reduction,
        every=dt.timedelta(days=request.every_days) if request.every_days else None,
        target=request.target,
        reduce_from=request.reduce_from,
        pace=request.pace,
        hold_points=request.hold_points,
    )
    return plan, request


def test_co_codamol_uses_two_strengths_and_steps_of_clinical_size() -> None:
    # Co-codamol 30/500 two tablets qds: codeine 60 mg a dose, 240 mg/day x 0.1 = 24 OME.
    # Strengths: 30/500, then the largest at most half of it, 15/500 (8/500 is above half of
    # 15/500; 12.8/500 is never used). At most 2 tablets a dose, paracetamol never up.
    # step 1: wanted 54 a dose; below it: 45 (30 + 15)          -> 180/day, 18 OME
    # step 2: wanted 40.5; 45 is the current dose -> 30 (15+15) -> 120/day, 12
    # step 3: wanted 27; -> 15                                  ->  60/day,  6
    # steps 4-6: 15 mg is the smallest: tds, bd, od             -> 4.5, 3, 1.5
    # step 7: stop                                              ->  0
    plan = taper_plan([CO_CODAMOL], start=START)
    assert [s.daily_ome_mg for s in plan.steps] == [
        D(24), D(18), D(12), D(6), D("4.5"), D(3), D("1.5"), D(0),
    ]  # fmt: skip
    used = {line.strength for s in plan.steps for i in s.items for line in i.lines}
    assert used == {"30 mg/500 mg", "15 mg/500 mg"}
    # every step takes off at least 15 mg of codeine a day (1.5 mg OME), never 0.88
    assert all(-s.change_mg >= D("1.5") for s in plan.steps[1:])
    # the notes say why a step is bigger than 10% only where it is, and what happened else
    notes = [s.note for s in plan.steps[1:]]
    assert [n is not None and n.startswith(BIGGER) for n in notes[:3]] == [True] * 3
    assert notes[3:] == [FEWER, FEWER, FEWER, STOPPED]


def test_the_example_is_a_plan_a_pharmacist_would_sign() -> None:
    # examples/taper-example.json: oxycodone MR 40 mg bd (120 OME) and co-codamol 30/500 two
    # qds (24 OME) = 144; methadone not planned. Oxycodone first (most OME), 9 steps as in
    # test_taper_examples (35, 30, 25, 20, 15, 10, 5 bd, 5 od, stop); then co-codamol, 7 steps
    # as above: 16 steps. Dates: every 14 days, step 3 held one extra interval, every 28 days
    # from step 6: 4 Jan, 18 Jan, 1 Feb (to 28 Feb), 1 Mar, 15 Mar, then 29 Mar + 28 days each:
    # step 16 on 29 Mar 2027 + 10 x 28 = 3 Jan 2028 (about 12 months; was 24 steps, 19 months).
    plan, _ = _example_plan()
    steps = plan.steps  # type: ignore[attr-defined]
    assert len(steps) - 1 == 16
    assert steps[1].date == dt.date(2027, 1, 4)
    assert steps[3].until == dt.date(2027, 3, 1)  # held: 28 days
    assert steps[6].date == dt.date(2027, 3, 29)
    assert steps[16].date == dt.date(2028, 1, 3)
    co = [s for s in steps[1:] if s.changed_prescription == 1]
    assert len(co) == 7
    assert all(-s.change_mg >= D("1.5") for s in co)
    strengths = {
        line.strength
        for s in steps
        for item in s.items
        if item.prescription_index == 1
        for line in item.lines
    }
    assert strengths == {"30 mg/500 mg", "15 mg/500 mg"}
    # a note only where it applies: bigger than planned on steps 5-7 (oxycodone 20->15->10->5)
    # and 10-12 (co-codamol 60->45->30->15); one dose fewer on 8, 13-15; stopped on 9 and 16
    bigger = [s.number for s in steps if s.note and s.note.startswith(BIGGER)]
    assert bigger == [5, 6, 7, 10, 11, 12]
    assert [s.number for s in steps if s.note == FEWER] == [8, 13, 14, 15]
    assert [s.number for s in steps if s.note == STOPPED] == [9, 16]
    assert all("rounding" not in (s.note or "") for s in steps)


def test_dates_are_the_same_in_every_output(tmp_path: Path) -> None:
    # step 1 runs from 4 Jan 2027 to 17 Jan 2027 (the day before step 2 starts), everywhere
    plan, request = _example_plan()
    text = plan.explain()  # type: ignore[attr-defined]
    assert "Step 1: 4 Jan 2027 to 17 Jan 2027:" in text
    assert "Step 0: now until 3 Jan 2027:" in text
    assert "Step 16: from 3 Jan 2028:" in text
    assert "2027-01-18" not in text  # no other date format, no first-day-of-next-step
    page = render_handout(plan, request.contacts)  # type: ignore[arg-type, attr-defined]
    assert "<tr><td>4 Jan 2027</td><td>17 Jan 2027</td>" in page
    out = CliRunner().invoke(app, ["taper", str(EXAMPLE), "--json"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["steps"][1]["date"], data["steps"][1]["last_day"]) == ("2027-01-04", "2027-01-17")
    assert data["steps"][-1]["last_day"] is None
    terminal = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["taper", str(EXAMPLE)]).stdout
    assert "Step 1: 4 Jan 2027 to 17 Jan 2027:" in terminal
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", terminal)


def test_html_out_refuses_a_link_and_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me", encoding="utf-8")
    link = tmp_path / "plan.html"
    link.symlink_to(target)
    runner = CliRunner()
    done = runner.invoke(app, ["taper", str(EXAMPLE), "--html", str(link)])
    assert done.exit_code == 2
    assert "symbolic link" in done.stderr
    assert target.read_text(encoding="utf-8") == "keep me"  # never written through
    done = runner.invoke(app, ["taper", str(EXAMPLE), "--html", str(tmp_path)])
    assert done.exit_code == 2
    assert "is a folder" in done.stderr
