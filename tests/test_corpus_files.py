"""The corpus of real Intervals.icu response shapes is usable: every payload parses and says where it came from."""

from __future__ import annotations

import json
import re

import pytest
from corpus import CORPUS_DIR, SHAPES, load, manifest, names, shapes

# An e-mail address; interval group ids such as "15s@341w86rpm" also contain "@" but no domain.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def test_it_has_payloads_to_check_the_sandbox_against() -> None:
    assert len(names()) >= 20


@pytest.mark.parametrize("name", names())
def test_it_parses_every_payload_and_names_its_source(name: str) -> None:
    payload = load(name)
    assert isinstance(payload, (dict, list)) and payload, f"{name} is empty"
    entry = manifest().get(name)
    assert entry is not None, f"{name}.json has no provenance line in the corpus README"
    assert entry.endpoint and entry.case and entry.source, f"{name}.json has an incomplete provenance line"
    assert entry.coverage in {"full", "subset"}, f"{name}.json: fields must start with 'full' or 'subset'"


def test_it_has_no_provenance_line_for_a_missing_file() -> None:
    assert set(manifest()) <= set(names())


def test_it_keeps_shapes_md_in_step_with_the_payloads() -> None:
    assert SHAPES.read_text(encoding="utf-8") == shapes(), "run: python -m tests.corpus shapes --write"


def test_it_keeps_identifiers_anonymous() -> None:
    # Re-authored payloads use the i900001 athlete; a real athlete id or e-mail would be a leak.
    for path in CORPUS_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        for value in _strings(json.loads(text)):
            assert not EMAIL.search(value), f"{path.name}: e-mail address {value!r}"
        assert '"i0"' not in text and "i55661" not in text and "i207965" not in text, path.name


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
