"""docs/policy.md's table of which bundled sample alert gets which band is true: each sample is triaged against
the sample knowledge base with the default policy, and together they reach all three bands."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from ai_service.alerts.adapters import parse_payload
from ai_service.incidents.service import judge
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
from ai_service.policy.service import load_policy
from ai_service.vocabulary import BANDS
from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "policy.md"
SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"


def documented_bands() -> dict[str, list[str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- sample-bands:start -->") : text.index("<!-- sample-bands:end -->")]
    rows = re.findall(r"^\|\s*`([^`]+)`\s*\|\s*([A-Z, ]+?)\s*\|", table, flags=re.MULTILINE)
    return {name: [band.strip() for band in bands.split(",")] for name, bands in rows}


def test_every_sample_is_in_the_table_and_all_three_bands_appear() -> None:
    documented = documented_bands()
    assert set(documented) == {path.name for path in SAMPLES.glob("*.json")}
    assert {band for bands in documented.values() for band in bands} == set(BANDS)


@pytest.mark.parametrize("sample", sorted(documented_bands()))
def test_the_sample_gets_its_documented_band(sample_kb_conn: psycopg.Connection, sample: str) -> None:
    parsed = parse_payload(json.loads((SAMPLES / sample).read_text(encoding="utf-8")))
    embedder = LocalMiniLMEmbedder()
    policy = load_policy()
    got = [judge(sample_kb_conn, embedder, alert, policy=policy).decision for alert in parsed.alerts]
    assert [d.band for d in got] == documented_bands()[sample], [(d.band, d.rule, d.reasons) for d in got]
