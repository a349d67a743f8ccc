"""`payhub iso20022 validate|show`: the message found from the file, masked summaries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from payhub.channels.base import StatementKind
from payhub.cli import app
from payhub.iso20022 import camt053, pain001, pain002
from payhub.iso20022.pain002 import PaymentStatus, StatusReport, TransactionStatus
from tests.iso20022.factories import IBAN, LEADER_ACCOUNT, T0, batch, line, transfer

runner = CliRunner()


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "pain001": pain001.write(batch([transfer(i) for i in range(5)])),
        "pain002": pain002.write(
            StatusReport.of(
                "STS-1",
                T0,
                "SPLIT-2026-0001",
                [
                    TransactionStatus("po_1", PaymentStatus.ACSC),
                    TransactionStatus("po_2", PaymentStatus.RJCT, "AC04", "closed"),
                ],
            )
        ),
        "camt053": camt053.write(
            camt053.from_lines(
                IBAN,
                (T0, T0 + timedelta(days=1)),
                [line(i, [StatementKind.CAPTURE, StatementKind.REFUND][i % 2]) for i in range(7)],
                0,
            )
        ),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.xml"
        paths[name].write_bytes(data)
    return paths


def test_validate_names_the_message_and_its_size(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    expected = {
        "pain001": "valid pain.001.001.09: 5 transfers",
        "pain002": "valid pain.002.001.12: 2 transaction statuses",
        "camt053": "valid camt.053.001.08: 7 entries",
    }
    for name, path in paths.items():
        result = runner.invoke(app, ["iso20022", "validate", str(path)])
        assert result.exit_code == 0, result.output
        assert expected[name] in result.output


def test_validate_refuses_a_broken_file_without_echoing_the_account(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    data = pain001.write(batch([transfer(1)])).replace(
        f"<Id>{LEADER_ACCOUNT}</Id>".encode(), f"<Id>{LEADER_ACCOUNT}{LEADER_ACCOUNT}</Id>".encode()
    )
    path.write_bytes(data)
    result = runner.invoke(app, ["iso20022", "validate", str(path)])
    assert result.exit_code == 2
    assert "invalid_file" in result.output
    assert LEADER_ACCOUNT not in result.output


def test_validate_refuses_a_file_that_is_not_iso20022(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_bytes(b"<Document xmlns='urn:example'/>")
    result = runner.invoke(app, ["iso20022", "validate", str(path)])
    assert result.exit_code == 2
    assert "supported message" in " ".join(result.output.split())


def test_show_masks_account_numbers(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    shown = runner.invoke(app, ["iso20022", "show", str(paths["pain001"])])
    assert shown.exit_code == 0, shown.output
    assert LEADER_ACCOUNT not in shown.output and "****0123" in shown.output
    assert transfer(1).creditor_account not in shown.output
    assert "617.25 CNY" in shown.output  # 5 × 123.45

    statuses = runner.invoke(app, ["iso20022", "show", str(paths["pain002"])])
    assert statuses.exit_code == 0, statuses.output
    assert "RJCT (failed)" in statuses.output and "AC04" in statuses.output

    statement = runner.invoke(app, ["iso20022", "show", str(paths["camt053"]), "--limit", "3"])
    assert statement.exit_code == 0, statement.output
    assert IBAN not in statement.output and "****3000" in statement.output
    assert "first 3 entries" in statement.output
