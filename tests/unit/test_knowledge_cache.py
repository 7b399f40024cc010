"""The on-disk knowledge cache (issue 20, cold start): it changes no result and serves only the
bundled knowledge of this install, exactly as its files are now.

What is checked:
- results and provenance (the knowledge hash) are identical with no cache, when the cache is
  written and when it is read, in fresh processes, and the reading process did not load the
  knowledge files (so the cache was really used);
- a damaged, truncated, foreign or stale file is ignored, the knowledge loaded from its files
  and the file written again;
- a changed bundled knowledge file changes the key: the changed value is what is loaded;
- knowledge a caller names (a rules folder, local rules, a profile, a table or catalogue file)
  is read from its files even with the cache warm;
- the lazily unpickled catalogue equals the catalogue read from its files, product by product;
- a folder others may write to is neither read nor written; an empty OPIOIDCDS_CACHE_DIR
  turns the cache off.
"""

from __future__ import annotations

import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from opioidcds import Prescription, calculate_ome, load_catalogue, load_knowledge
from opioidcds._decide import knowledge as knowledge_module
from opioidcds._decide.rules import Ruleset, loader
from opioidcds._knowledge import cache, paths, products, provenance, tables, vocabulary
from opioidcds._knowledge.paths import knowledge_dir

BUNDLED = ("conversion_tables", "rules", "catalogue", "inputs")

SCRIPT = """
import hashlib, json, sys
import opioidcds
from opioidcds._decide.rules import loader
from opioidcds._knowledge import products
calls = {"rulesets": 0, "catalogue": 0}
load_rulesets, load = loader.load_rulesets, products._load
def counted_rulesets(*a, **kw):
    calls["rulesets"] += 1
    return load_rulesets(*a, **kw)
def counted_load(*a, **kw):
    calls["catalogue"] += 1
    return load(*a, **kw)
loader.load_rulesets, products._load = counted_rulesets, counted_load
current = opioidcds.Prescription(dmd_code="36120011000001101",
                                 dosage_text="apply one patch every 72 hours")
new = opioidcds.Prescription(dmd_code="38752211000001108",
                             dosage_text="one tablet every 6 hours when required, max 4 a day")
patient = opioidcds.Patient(age=70, sex="female", prescriptions=(current,))
alerts = opioidcds.check_prescription(patient, new)
out = {
    "alerts": [a.model_dump(mode="json") for a in alerts],
    "assessment": opioidcds.assess(patient).model_dump(mode="json"),
    "ome": opioidcds.calculate_ome([current, new]).model_dump(mode="json"),
    "calls": calls,
}
print(json.dumps(out, sort_keys=True))
"""


def _run(cache_dir: str) -> dict[str, object]:
    env = {**os.environ, cache.CACHE_ENV: cache_dir}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True, env=env
    )
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_results_and_provenance_are_the_same_without_cache_writing_and_reading(
    tmp_path: Path,
) -> None:
    without = _run("")
    writing = _run(str(tmp_path))
    (written,) = tmp_path.glob("knowledge-*.bin")
    reading = _run(str(tmp_path))
    # without a cache and while writing it, the files are read; reading it, they are not
    assert without.pop("calls") == {"rulesets": 1, "catalogue": 1}
    assert writing.pop("calls") == {"rulesets": 1, "catalogue": 1}
    assert reading.pop("calls") == {"rulesets": 0, "catalogue": 0}
    assert without == writing == reading
    # the results carry the provenance (the knowledge hash) and the figures: the same
    alerts = reading["alerts"]
    assert isinstance(alerts, list)
    assert alerts
    assert written.stat().st_mode & 0o777 == 0o600  # owner read/write only


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A cache folder of the test's own, every in-process cache of knowledge forgotten."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    _forget()
    yield folder
    monkeypatch.undo()
    _forget()


def _forget() -> None:
    for fn in (
        knowledge_module.default_knowledge,
        tables.default_table,
        vocabulary.default_vocabulary,
        products._default_catalogue,
        products._class_vocabulary,
    ):
        fn.cache_clear()
    provenance.clear_cache()
    cache.forget()


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the loads of the bundled rulesets and catalogue from their files."""
    calls = {"rulesets": 0, "catalogue": 0}
    load_rulesets, load = loader.load_rulesets, products._load

    def rulesets(*args: object, **kwargs: object) -> object:
        calls["rulesets"] += 1
        return load_rulesets(*args, **kwargs)  # type: ignore[arg-type]

    def catalogue(*args: object, **kwargs: object) -> object:
        calls["catalogue"] += 1
        return load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "load_rulesets", rulesets)
    monkeypatch.setattr(products, "_load", catalogue)
    return calls


def _hash_of_a_check() -> str:
    rx = Prescription(dmd_code="38752211000001108", dosage_text="one tablet four times a day")
    return calculate_ome([rx]).provenance.knowledge_sha256 + str(
        knowledge_module.for_knowledge(
            knowledge_module.default_knowledge(), None, True
        ).knowledge_sha256
    )


def test_a_damaged_file_is_ignored_and_written_again(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    expected = _hash_of_a_check()
    (path,) = fresh.glob("knowledge-*.bin")
    good = path.read_bytes()
    header_end = good.index(b"\n", len(b"opioidcds knowledge cache\n")) + 1
    entries = json.loads(good[len(b"opioidcds knowledge cache\n") : header_end])["entries"]
    flipped = bytearray(good)
    for name in ("rulesets", "catalogue"):  # a byte in the middle of each entry changed
        offset, length, _sha = entries[name]
        flipped[header_end + offset + length // 2] ^= 0xFF
    damaged = {
        "a byte of two entries changed": bytes(flipped),
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "not a cache file": b"\x80\x04K\x01.",  # a pickle, not our layout
        "another key": good.replace(cache.knowledge_key().encode(), b"0" * 64, 1),
        "header not JSON": good[: header_end - 5] + b"\xff" + good[header_end - 4 :],
    }
    for what, data in damaged.items():
        path.write_bytes(data)
        _forget()
        calls.update(rulesets=0, catalogue=0)
        assert _hash_of_a_check() == expected, what
        assert calls == {"rulesets": 1, "catalogue": 1}, what  # loaded from the files
        # ... and the file written again: the next process reads it
        _forget()
        calls.update(rulesets=0, catalogue=0)
        assert _hash_of_a_check() == expected, what
        assert calls == {"rulesets": 0, "catalogue": 0}, what


def test_writing_an_entry_does_not_vouch_for_a_damaged_one(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a process that rebuilds one entry rewrites the file with the others: a damaged entry it
    # did not read (here the catalogue, on a path that needs only the rulesets) must not be
    # written back under a digest of its damaged bytes, or the next process would trust it
    calls = _counting(monkeypatch)
    _hash_of_a_check()
    (path,) = fresh.glob("knowledge-*.bin")
    good = path.read_bytes()
    header_end = good.index(b"\n", len(b"opioidcds knowledge cache\n")) + 1
    entries = json.loads(good[len(b"opioidcds knowledge cache\n") : header_end])["entries"]
    damaged = bytearray(good)
    for name in ("rulesets", "catalogue"):
        offset, length, _sha = entries[name]
        damaged[header_end + offset + length // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    _forget()
    calls.update(rulesets=0, catalogue=0)
    knowledge_module.default_knowledge()  # reads the rulesets only, and writes them again
    assert calls == {"rulesets": 1, "catalogue": 0}
    _forget()
    calls.update(rulesets=0, catalogue=0)
    catalogue = load_catalogue()
    assert calls == {"rulesets": 0, "catalogue": 1}  # the damaged entry was not kept
    assert catalogue.content_sha256() == products._load(None, None).content_sha256()


def test_an_entry_of_another_type_is_built_again(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a well-formed file whose "rulesets" entry is not rulesets (its digest matches)
    _counting(monkeypatch)
    cache._write_entry("rulesets", ["not", "rulesets"])
    calls = _counting(monkeypatch)
    _forget()
    kb = knowledge_module.default_knowledge()
    assert "prescribing-alerts" in kb.rulesets
    assert calls["rulesets"] == 1


def _copy_bundled(to: Path) -> Path:
    """A copy of the bundled knowledge folders, laid out as in a wheel (``_knowledge/<name>``)."""
    home = to / "opioidcds" / "_knowledge"
    for name in BUNDLED:
        shutil.copytree(knowledge_dir(name), home / name)
    return home


def test_a_changed_knowledge_file_is_never_served_from_the_cache(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = _copy_bundled(tmp_path / "install")
    monkeypatch.setattr(paths, "_HERE", home)
    _forget()
    before = knowledge_module.default_knowledge()
    key = cache.knowledge_key()
    label = before.rulesets["prescribing-alerts"].parameter_label("alert_threshold_mg_per_day")
    assert label == "Script Switch alert above"  # rules/prescribing-alerts.toml as bundled
    old_hash = knowledge_module.for_knowledge(before, None, False).knowledge_sha256
    # the local copy changes the threshold's label, which people read in every alert
    rules = home / "rules" / "prescribing-alerts.toml"
    text = rules.read_text(encoding="utf-8")
    marker = 'label = "Script Switch alert above"'
    assert text.count(marker) == 1
    rules.write_text(text.replace(marker, 'label = "Script Switch alert over"'), "utf-8")
    _forget()
    calls = _counting(monkeypatch)
    after = knowledge_module.default_knowledge()
    assert cache.knowledge_key() != key
    assert calls["rulesets"] == 1  # read from the changed file, not the cache
    changed = after.rulesets["prescribing-alerts"].parameter_label("alert_threshold_mg_per_day")
    assert changed == "Script Switch alert over"
    assert knowledge_module.for_knowledge(after, None, False).knowledge_sha256 != old_hash
    assert len(list(fresh.glob("knowledge-*.bin"))) == 2  # one per key


def test_a_moved_install_has_another_key(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the rulesets remember the path of their file (local extensions read it): a cache written
    # by an install elsewhere would name files that are not this install's
    monkeypatch.setattr(paths, "_HERE", _copy_bundled(tmp_path / "one"))
    _forget()
    one = cache.knowledge_key()
    monkeypatch.setattr(paths, "_HERE", _copy_bundled(tmp_path / "two"))
    _forget()
    assert cache.knowledge_key() != one
    source = knowledge_module.default_knowledge().rulesets["scope"].source
    assert source.startswith(str(tmp_path / "two"))


def test_a_changed_module_or_units_file_has_another_key(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the cached objects are instances of the library's classes, and a table's unit multipliers
    # come from units.pint: a cache written by other code or units is not this install's
    package = Path(cache.__file__).resolve().parents[1]
    copy = tmp_path / "opioidcds"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE", copy)
    keys: set[str] = set()
    for changed in (None, "_knowledge/units.pint", "_decide/rules/evaluator.py", "_base.py"):
        if changed is not None:
            with (copy / changed).open("a", encoding="utf-8") as fh:
                fh.write("\n# changed\n")
        cache.forget()
        keys.add(cache.knowledge_key())
    assert len(keys) == 4  # the original and three changes


def test_knowledge_a_caller_names_is_read_from_its_files(
    fresh: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    knowledge_module.default_knowledge()
    load_catalogue()
    assert list(fresh.glob("knowledge-*.bin"))  # the cache is warm
    _forget()
    calls = _counting(monkeypatch)
    # a rules folder of the caller's (a copy whose threshold's label differs)
    rules = tmp_path / "rules"
    shutil.copytree(knowledge_dir("rules"), rules)
    alerts = rules / "prescribing-alerts.toml"
    text = alerts.read_text(encoding="utf-8")
    label = 'label = "Script Switch alert above"'
    alerts.write_text(text.replace(label, 'label = "Local alert above"'), "utf-8")
    kb = load_knowledge(rules)
    assert calls["rulesets"] == 1
    theirs = kb.rulesets["prescribing-alerts"].parameter_label("alert_threshold_mg_per_day")
    assert theirs == "Local alert above"
    # local rules are added to the bundled rulesets (those from the cache) and read from file
    local = Path(__file__).parents[2] / "examples" / "local-rules"
    with_local = load_knowledge(local_rules=local)
    assert any(e.id for rs in with_local.rulesets.values() for e in rs.extensions)
    # a profile is read from its file and applied
    profile = knowledge_dir("rules") / "profiles" / "opioids-aware-90.toml"
    profiled = load_knowledge(profile=profile)
    assert profiled.profile is not None
    bound = profiled.bound("prescribing-alerts").binding.params["reminder_high_dose_mg_per_day"]
    assert bound == Decimal(90)  # the profile's value (the bundled ruleset's is 120)
    bundled = knowledge_module.default_knowledge().bound("prescribing-alerts")
    assert bundled.binding.params["reminder_high_dose_mg_per_day"] == Decimal(120)
    # a catalogue folder of the caller's
    copy = tmp_path / "catalogue"
    shutil.copytree(knowledge_dir("catalogue"), copy)
    calls["catalogue"] = 0
    catalogue = load_catalogue(copy)
    assert calls["catalogue"] == 1
    assert catalogue is not load_catalogue()


def test_the_catalogue_read_back_equals_the_catalogue_files(fresh: Path) -> None:
    from_files = products._load(None, None)
    load_catalogue()  # written
    _forget()
    read_back = load_catalogue()
    assert isinstance(read_back._by_code, products._Pickled)  # really the lazy one
    assert len(read_back) == len(from_files)
    assert read_back.id == from_files.id
    assert read_back.version == from_files.version
    assert read_back.effective_date == from_files.effective_date
    for product in from_files:
        assert read_back.by_code(product.dmd_code) == product
        assert product.dmd_code in read_back
    assert dict(read_back._by_name) == dict(from_files._by_name)
    assert read_back.products == from_files.products
    assert read_back.content_sha256() == from_files.content_sha256()
    assert provenance.catalogue_source(read_back) == provenance.catalogue_source(from_files)
    with pytest.raises(TypeError):
        read_back._by_code["1"] = from_files.products[0]  # type: ignore[index]
    with pytest.raises(AttributeError):
        read_back.version = "2"


def _writes_nothing(folder: Path, load: Callable[[], object]) -> None:
    load()
    assert not list(folder.glob("knowledge-*.bin"))


def test_a_folder_others_may_write_is_not_used(fresh: Path) -> None:
    fresh.mkdir(mode=0o700)
    fresh.chmod(0o777)
    _writes_nothing(fresh, knowledge_module.default_knowledge)
    assert cache.cache_file() is not None


def test_an_empty_setting_turns_the_cache_off(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "")
    _forget()
    assert cache.cache_dir() is None
    assert cache.cache_file() is None
    kb = knowledge_module.default_knowledge()
    assert "headline" in kb.rulesets
    assert not fresh.exists()


def test_a_first_check_reading_the_cache_imports_only_what_it_uses(tmp_path: Path) -> None:
    # issue 20, cold start: neither the delivery layers (CLI, population, CDS Hooks), nor
    # Polars, pint or lark, nor the rules' file schema and loader (the cache holds the rulesets)
    code = SCRIPT.replace("print(json.dumps(out, sort_keys=True))", "print(sorted(sys.modules))")
    code = code.replace("from opioidcds._decide.rules import loader\n", "")
    code = code.replace("load_rulesets, load = loader.load_rulesets, products._load\n", "")
    code = code.replace(
        "loader.load_rulesets, products._load = counted_rulesets, counted_load\n", ""
    )
    env = {**os.environ, cache.CACHE_ENV: str(tmp_path)}
    for _ in range(2):  # the first run writes the cache, the second reads it
        done = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
        )
    loaded = set(json.loads(done.stdout.strip().replace("'", '"')))
    unwanted = {
        "opioidcds.cli",
        "opioidcds.population",
        "opioidcds.cdshooks",
        "polars",
        "pint",
        "lark",
        "opioidcds._decide.rules.loader",
        "opioidcds._decide.rules.schema",
    }
    assert not loaded & unwanted
    assert "opioidcds._decide.rules.evaluator" in loaded  # the check did run the rules


def test_a_ruleset_read_back_has_every_part_it_was_assembled_from() -> None:
    # Ruleset.__reduce__ lists the constructor's parameters by hand: a parameter added to the
    # constructor and not to that list would be lost by the cache (its default read back)
    ruleset = knowledge_module.default_knowledge().rulesets["prescribing-alerts"]
    _assemble, (parts,) = ruleset.__reduce__()
    assert isinstance(parts, dict)
    wanted = set(inspect.signature(Ruleset.__init__).parameters) - {"self"}
    assert set(parts) == wanted
    public = [n for n in Ruleset.__slots__ if not n.startswith("_")]
    for one in knowledge_module.default_knowledge().rulesets.values():
        back = pickle.loads(pickle.dumps(one))  # noqa: S301 - the test's own bytes
        for name in public:
            assert getattr(back, name) == getattr(one, name), (one.id, name)
        assert back._checker is one._checker
        assert back.bind(None).rule_order == one.bind(None).rule_order
