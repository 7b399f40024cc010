"""A non-editable install carries the knowledge base (DESIGN.md: "the wheel must carry rules/
and conversion_tables/"): build the wheel, install it into a fresh environment, calculate."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (built,) = out.glob("opioidcds-*.whl")
    return built


def test_wheel_contains_knowledge(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "opioidcds/py.typed",
        "opioidcds/_knowledge/units.pint",
        "opioidcds/_resolve/dosage.lark",
        "opioidcds/_resolve/dosage_table.json",
        "opioidcds/_resolve/dosage_notes.toml",
        "opioidcds/_knowledge/conversion_tables/uk-opioids-aware.toml",
        "opioidcds/_knowledge/conversion_tables/cdc-2022.toml",
        "opioidcds/_knowledge/conversion_tables/ingredients.toml",
        "opioidcds/_knowledge/catalogue/uk-dmd-opioids.csv",
        "opioidcds/_knowledge/rules/README.md",
        "opioidcds/_knowledge/instruments/bpi-sf.toml",
        "opioidcds/_knowledge/instruments/swemwbs-conversion.csv",
        "opioidcds/_knowledge/population_method/evaluation.toml",
    ):
        assert required in names, required


def test_installed_wheel_calculates(wheel: Path, tmp_path: Path) -> None:
    # Install the wheel alone into a target folder and import it from there, ahead of the
    # editable source tree: the dependencies come from this environment.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r});"
        "import opioidcds;"
        f"assert opioidcds.__file__.startswith({str(target)!r}), opioidcds.__file__;"
        "p = opioidcds.Prescription(dmd_code='36130911000001104', dose_quantity=1,"
        " dose_unit='tablet', doses_per_day=2);"
        "print(opioidcds.calculate_ome([p]).total_mg_per_day);"
        "from opioidcds.population import default_instruments, default_evaluation_method;"
        "import opioidcds.population.instruments as i;"
        f"assert i.__file__.startswith({str(target)!r});"
        "assert sorted(default_instruments()) == ['bpi-sf', 'eq-5d-5l', 'swemwbs', 'wemwbs'];"
        "assert default_evaluation_method().months == 12"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip() in {"120", "120.0"}  # oxycodone 40 mg x 2 x 1.5
