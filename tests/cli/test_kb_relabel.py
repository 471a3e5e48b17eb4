"""`nocai kb relabel`: a knowledge base labelled before the taxonomy gets the taxonomy's labels, once."""

from __future__ import annotations

import psycopg

from tests.cli.conftest import Cli


def test_relabel_fixes_a_stale_label_and_then_has_nothing_to_do(cli: Cli) -> None:
    fresh = cli("kb", "relabel", "--json")
    assert fresh.code == 0, fresh.describe()
    report = fresh.json()
    assert report["runbooks"] >= 12 and report["signatures"] >= 60
    assert report["signatures_relabelled"] == 0 and report["texts_embedded"] == 0  # the sample is current

    (signature_id, label), *_ = cli.query(
        "SELECT incident_signature_id, failure_type FROM incident_signatures ORDER BY 1 LIMIT 1"
    )
    with psycopg.connect(cli.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE incident_signatures SET failure_type = 'device_while_writing_temp'"
            " WHERE incident_signature_id = %s",
            (signature_id,),
        )
    stale = cli("kb", "relabel")
    assert stale.code == 0, stale.describe()
    # Its vector was made from the right label, so nothing needs embedding again.
    assert f"signatures: 1 of {report['signatures']} relabelled (0 embedded again)" in stale.out
    assert cli.query(
        "SELECT failure_type FROM incident_signatures WHERE incident_signature_id = %s", (signature_id,)
    ) == [(label,)]
    assert cli("kb", "relabel", "--json").json()["signatures_relabelled"] == 0
