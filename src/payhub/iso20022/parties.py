"""Accounts and banks as ISO 20022 writes them: an IBAN or another account id; a bank by BIC
or by its clearing-system member id (a Chinese bank by its CNAPS code)."""

from __future__ import annotations

from lxml import etree

from payhub.iso20022.schemas import Builder, Reader
from payhub.iso20022.values import is_bic, is_cnaps, is_iban


def write_account(b: Builder, parent: etree._Element, name: str, account: str) -> None:
    ident = b.path(parent, name, "Id")
    if is_iban(account):
        b.sub(ident, "IBAN", account)
    else:
        b.path(ident, "Othr", "Id", text=account)


def read_account(r: Reader, parent: etree._Element, name: str) -> str | None:
    return r.text(parent, f"{name}/Id/IBAN") or r.text(parent, f"{name}/Id/Othr/Id")


def write_bank(b: Builder, parent: etree._Element, name: str, code: str) -> None:
    institution = b.path(parent, name, "FinInstnId")
    if is_bic(code):
        b.sub(institution, "BICFI", code)
        return
    member = b.sub(institution, "ClrSysMmbId")
    if is_cnaps(code):
        b.path(member, "ClrSysId", "Cd", text="CNAPS")
    b.sub(member, "MmbId", code)


def read_bank(r: Reader, parent: etree._Element, name: str) -> str | None:
    return r.text(parent, f"{name}/FinInstnId/BICFI") or r.text(
        parent, f"{name}/FinInstnId/ClrSysMmbId/MmbId"
    )
