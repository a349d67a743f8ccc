"""`payhub sanctions …` in a subprocess: load the sample list (rescreening everyone),
screen a name with its timing, list and decide hits, refuse a bad file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import fresh_database
from tests.test_cli import Cli, flat


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    with fresh_database(tmp_path) as url:
        made = Cli(url, tmp_path)
        made.run("migrate")
        yield made


def test_load_screen_and_decide(cli: Cli) -> None:
    cli.run("merchants", "create", "Golden Cresent Shipping")
    loaded = flat(cli.run("sanctions", "load", "--sample").stdout)
    assert "List payhub_sample: version slv_" in loaded and "13 entries" in loaded
    assert "Screened 1 merchants and customers: 1 potential matches." in loaded
    again = flat(cli.run("sanctions", "load", "--sample").stdout)
    assert "nothing changed" in again

    screened = flat(cli.run("sanctions", "screen", "ZHANG, Wei").stdout)
    assert "potential_match" in screened and "PS-001" in screened
    assert "13 entries;" in screened and "screened in" in screened

    hits = cli.query("SELECT id, entry_id FROM sanctions_hits")
    assert [h[1] for h in hits] == ["PS-010"]
    assert "PS-010" in flat(cli.run("sanctions", "hits").stdout)
    done = cli.run("sanctions", "clear", hits[0][0], "--reason", "a different company")
    assert f"Hit {hits[0][0]}: cleared." in done.stdout
    assert "sanctions_hit_decided" in cli.fail(
        "sanctions", "confirm", hits[0][0], "--reason", "again"
    )
    assert "rescreened" not in cli.run("sanctions", "rescreen").stderr


def test_a_bad_file_is_refused(cli: Cli) -> None:
    bad = cli.write("bad.csv", "id,name\n1,Ann\n1,Bob\n")
    refused = cli.fail("sanctions", "load", bad, "--list", "mine")
    assert "sanctions_list_invalid" in refused and "line 3" in refused
    assert cli.query("SELECT count(*) FROM sanctions_list_versions") == [(0,)]
