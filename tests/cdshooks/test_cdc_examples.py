"""The CDC opioid-cds example requests (STU3, 2016 guideline): what the service answers, and why.

See ``data/README.md``: sent as is, each is refused with 400 naming the field that CDS Hooks 2.0
/ R4 needs; converted by ``cdc_convert.py``, each is accepted and answered with UK figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from opioidcds.cdshooks import CDSHooksService, FeedbackStore
from opioidcds.cdshooks.app import create_app

from .cdc_convert import DATA, convert, load
from .hooks_helpers import AsgiClient

FILES = sorted(p.name for p in DATA.glob("request-example-rec-*.json"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> AsgiClient:
    store = FeedbackStore(tmp_path_factory.mktemp("fb") / "feedback.sqlite3")
    service = CDSHooksService(today=lambda: dt.date(2026, 11, 22))
    return AsgiClient(create_app(service, feedback=store))


def post(client: AsgiClient, body: dict[str, Any]) -> Any:
    return client.post(f"/cds-services/opioidcds-{body['hook']}", json=body)


def test_all_examples_are_here() -> None:
    assert len(FILES) == 11


@pytest.mark.parametrize("name", FILES)
def test_as_sent_each_is_refused_naming_the_part(client: AsgiClient, name: str) -> None:
    """As sent: REC-05 has its orders in context.medications (a pre-1.0 name: 400); the others'
    bare MedicationRequest draft is read (a one-to-one rewrite), but their prefetch keys are
    the CDC service's (item1...), not this service's, and there is no fhirServer token: 412."""
    r = post(client, load(name))
    if "rec-05" in name:
        assert r.status_code == 400
        (detail,) = r.json()["details"]
        assert detail == {
            "path": "context.draftOrders",
            "problem": "is required (a FHIR R4 Bundle)",
        }
    elif "benzo-trigger-with-opioid" in name:  # its selection names no draft (the example's defect)
        assert r.status_code == 400
        assert r.json()["details"][0]["path"] == "context.selections[0]"
    else:
        assert r.status_code == 412, r.text
        paths = [d["path"] for d in r.json()["details"]]
        assert paths == ["prefetch.patient", "prefetch.medications"]


def summaries(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 200, r.text
    return [(c["indicator"], c["summary"]) for c in r.json()["cards"]]


def details(r: Any) -> str:
    return "\n".join(c["detail"] for c in r.json()["cards"])


FENTANYL_75 = [
    "rec-05-mme-greater-than-fifty",
    "rec-05-mme-less-than-fifty",
    "rec-08-mme-greater-than-fifty",
    "rec-08-mme-less-than-fifty",
    "rec-08-substance-abuse",
]


@pytest.mark.parametrize("stem", FENTANYL_75)
def test_fentanyl_75_patch_is_180_mg_whatever_the_change_interval(
    client: AsgiClient, stem: str
) -> None:
    # 75 micrograms/hour x 2.4 = 180 mg OME/day (Opioids Aware), for a patch changed every 3
    # days and for the "less than fifty" examples that change it every 12 days: the OME comes
    # from the patch's rate, not the change interval (docs/calculation.md, "patches").
    r = post(client, convert(load(f"request-example-{stem}.json")))
    got = summaries(r)
    indicators = sorted(i for i, _s in got)
    assert indicators == ["critical", "info", "warning", "warning"]
    text = " ".join(s for _i, s in got)
    assert "above the alert threshold" in text  # > 100 mg (Script Switch)
    assert "Fentanyl patch" in text  # no current opioid: not opioid tolerant
    assert "immediate-release" in text  # starting opioids with a patch (issue 15, item 6)
    assert "high dose" in text  # > 120 mg: check the risk factors
    assert "**Total: 180 mg OME/day.**" in details(r)


def test_substance_misuse_code_outside_the_starter_list_stays_unknown(client: AsgiClient) -> None:
    # SNOMED CT 191865004 (combined opioid with other drug dependence) is a descendant of a
    # listed concept; the service does not expand descendants, so the input stays unknown.
    r = post(client, convert(load("request-example-rec-08-substance-abuse.json")))
    assert "history substance or alcohol misuse: unknown" in details(r)


def test_on_benzodiazepine(client: AsgiClient) -> None:
    # Temazepam (current, RxNorm name not in the opioid vocabulary) is recognised by name.
    r = post(client, convert(load("request-example-rec-08-on-benzodiazepine.json")))
    got = summaries(r)
    assert any(i == "critical" and "benzodiazepine" in s for i, s in got)
    assert "**Total: 180 mg OME/day.**" in details(r)


def test_on_naloxone_is_said_not_understood(client: AsgiClient) -> None:
    # Naloxone injection: its RxNorm dose form is not in the adapter's table and its name names
    # no opioid of the ingredient vocabulary (naloxone is an antagonist), so a card says a
    # current medicine was not recognised (info: no opioid named), and the co-prescription
    # checks say they could not run (the whole list was not read).
    r = post(client, convert(load("request-example-rec-08-on-naloxone.json")))
    got = summaries(r)
    not_recognised = "Some current medicines were not recognised (no opioid named): not counted."
    assert ("info", not_recognised) in got
    assert any("could not be checked" in s for _i, s in got)


def test_benzo_trigger_with_opioid(client: AsgiClient) -> None:
    body = convert(load("request-example-rec-11-benzo-trigger-with-opioid.json"))
    # The example's selection names an id that is not in its draftOrders: a 400, by path.
    r = post(client, body)
    assert r.status_code == 400
    assert r.json()["details"][0]["path"] == "context.selections[0]"
    # With the selection pointing at the draft: oxycodone 12-hourly 10 mg, 1 a day (as coded)
    # = 10 mg x 1.5 = 15 mg OME/day, and a benzodiazepine is being added: critical.
    draft_id = body["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    body["context"]["selections"] = [f"MedicationRequest/{draft_id}"]
    r = post(client, body)
    got = summaries(r)
    assert [i for i, _s in got] == ["critical"]
    assert "benzodiazepine" in got[0][1]
    assert "**Total: 15 mg OME/day.**" in details(r)


def test_opioid_trigger_with_benzo(client: AsgiClient) -> None:
    r = post(client, convert(load("request-example-rec-11-opioid-trigger-with-benzo.json")))
    got = summaries(r)
    # the benzodiazepine (critical), and starting opioids with a modified-release product for
    # a patient on no opioid (warning; issue 15, item 6)
    assert [i for i, _s in got] == ["critical", "warning"]
    assert any("modified-release" in s for _i, s in got)
    assert "**Total: 15 mg OME/day.**" in details(r)


def test_starting_with_modified_release_is_the_only_card(client: AsgiClient) -> None:
    # 15 mg OME/day without a benzodiazepine, for a patient on no opioid: only the starting
    # check (issue 15, item 6: a modified-release opioid is not for starting, Opioids Aware).
    r = post(client, convert(load("request-example-rec-11-opioid-trigger-without-benzo.json")))
    got = summaries(r)
    assert [i for i, _s in got] == ["warning"]
    assert "modified-release" in got[0][1]


@pytest.mark.parametrize("stem", ["rec-11-benzo-trigger-without-opioid"])
def test_nothing_to_say(client: AsgiClient, stem: str) -> None:
    # 15 mg OME/day without a benzodiazepine; or a benzodiazepine without an opioid.
    r = post(client, convert(load(f"request-example-{stem}.json")))
    assert r.status_code == 200
    assert r.json() == {"cards": []}
