from payhub.db.session import Database
from payhub.ledger import service as ledger
from tests.ledger.helpers import open_account, transfer


async def test_transfer_moves_money(db: Database) -> None:
    await open_account(db, "bank:custody", side="debit")
    wallet = await open_account(db, "merchant:m1:available", no_overdraft=True)
    await db.run_in_transaction(
        lambda s: ledger.post_journal(s, transfer("bank:custody", "merchant:m1:available", 500))
    )
    balance = await db.run_in_transaction(lambda s: ledger.get_balance(s, wallet.id))
    assert balance.posted == 500
    assert balance.available == 500
