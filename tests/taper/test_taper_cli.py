"""``opioidcds taper``: table, JSON, HTML handout, errors (issue 7, output)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opioidcds.cli.app import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "taper-example.json"
runner = CliRunner()

OXY = {
    "drug": "oxycodone",
    "form": "modified-release tablet",
    "strength": "40 mg",
    "dose_quantity": 1,
    "dose_unit": "tablet",
    "doses_per_day": 2,
}


def run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_example_readable() -> None:
    code, out, _ = run(["taper", str(EXAMPLE)])
    assert code == 0
    assert "Tapering plan" in out
    assert "NOT PLANNED" in out  # methadone, with its reason
    assert "specialist" in out
    # oxycodone 80 x 1.5 = 120 + co-codamol 240 mg codeine x 0.1 = 24 -> 144
    assert "144" in out


def test_json_plan() -> None:
    request = {"prescriptions": [OXY], "start": "2027-01-04"}
    code, out, _ = run(["taper", "-", "--json"], stdin=json.dumps(request))
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "planned"
    assert data["steps"][1]["date"] == "2027-01-04"
    assert data["steps"][1]["daily_ome_mg"] == "105.0"  # 70 mg x 1.5, a string
    assert data["steps"][-1]["daily_ome_mg"] in {"0", "0.0"}
    assert data["interval_days"] == 14


def test_start_option_and_bare_list() -> None:
    code, out, _ = run(["taper", "-", "--json", "--start", "2027-02-01"], stdin=json.dumps([OXY]))
    assert code == 0
    assert json.loads(out)["steps"][1]["date"] == "2027-02-01"


def test_html_handout(tmp_path: Path) -> None:
    out_file = tmp_path / "plan.html"
    code, _, _ = run(["taper", str(EXAMPLE), "--html", str(out_file)])
    assert code == 0
    page = out_file.read_text(encoding="utf-8")
    lowered = page.lower()
    for word in ("addict", "abuse", "misuse"):
        assert word not in lowered
    assert "usually settle within a few days" in page
    assert "NHS 111" in page
    assert "999" in page
    assert "Example Surgery" in page
    assert "01234 567890" in page
    assert "Example Pharmacy" in page
    assert "Not part of this plan" in page
    # oxycodone MR from 40 mg uses 20, 10 and 5 mg (each at most half the one above)
    assert "oxycodone 35 mg twice a day (20 mg + 10 mg + 5 mg modified-release tablets)" in page
    assert "co-codamol: 2 x 30 mg/500 mg tablets four times a day" in page


def test_html_escapes_inputs(tmp_path: Path) -> None:
    request = {
        "prescriptions": [OXY],
        "start": "2027-01-04",
        "contacts": {"practice_name": "<script>alert(1)</script>", "pharmacy_phone": "a&b"},
    }
    src = tmp_path / "req.json"
    src.write_text(json.dumps(request), encoding="utf-8")
    out_file = tmp_path / "plan.html"
    code, _, _ = run(["taper", str(src), "--html", str(out_file)])
    assert code == 0
    page = out_file.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b" in page
    assert "____" in page  # missing contacts are blanks to fill in by hand


def test_invalid_input_exit_2() -> None:
    code, _, err = run(["taper", "-"], stdin=json.dumps({"prescriptions": [OXY], "speed": 3}))
    assert code == 2
    assert "speed" in err
    code, _, err = run(["taper", "-", "--start", "soon"], stdin=json.dumps([OXY]))
    assert code == 2
    assert "--start" in err
    bad = dict(OXY, dose_quantity=-1)
    code, _, err = run(["taper", "-"], stdin=json.dumps([bad]))
    assert code == 2
    assert "-1" not in err  # values are never echoed
