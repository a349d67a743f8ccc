"""The SQL of a run: the statement staged in `recon_stage` (and the few lines pass one
leaves, in `recon_left`; see `staging`) against our books. Sales and captures count as
captures. Each statement reads the whole statement at most once and sends back only what
does not simply match, so a million-line statement costs a few scans and hash joins, and
Python sees the breaks' size, not the statement's.

Our side is a card channel's approved attempts (`CARD`) or a payout rail's payouts
(`PAYOUT`): the same statements over a different "ours of the day", nothing else."""

from __future__ import annotations

from dataclasses import dataclass

_OUR_KIND = "(CASE WHEN a.kind = 'refund' THEN 'refund' ELSE 'capture' END)"
_OURS = (
    "a.channel_id = :channel AND a.status = 'approved' AND a.kind IN ('sale', 'capture', 'refund')"
)

# Per currency and kind: the statement's net, and (less the few lines that do not match)
# what pass one matched.
STATEMENT_TOTALS = """
SELECT currency, kind, COUNT(*) AS n, SUM(amount) AS amount, SUM(fee) AS fee
FROM recon_stage GROUP BY currency, kind
"""

# Our movements of the statement's day, with their payment's currency. The currency is
# looked up by key for each attempt: the cost follows the day's volume, where a join
# would read the whole payments table, however many years it holds.
_OURS_OF_DAY = f"""
SELECT a.id, a.payment_id, a.request_id, a.amount, a.created_at, {_OUR_KIND} AS kind,
       (SELECT p.currency FROM payments p WHERE p.id = a.payment_id) AS currency
FROM payment_attempts a
WHERE {_OURS} AND a.created_at >= :start AND a.created_at < :end
"""  # noqa: S608 - put together from this module's own fragments

# References on more than one line, into `recon_twice`: a hash aggregate over the
# statement, a few rows out. (The duplicates proper, per attempt, are counted among the
# rows that come back.)
FIND_LISTED_TWICE = """
INSERT INTO recon_twice
SELECT request_id FROM recon_stage WHERE request_id <> ''
GROUP BY request_id HAVING COUNT(*) > 1
"""

# (The authorisation reference, which pass two needs, is looked up for the rows sent back.)
_COLUMNS_OF = """
s.line_no, s.kind, s.request_id, s.channel_ref, s.authorization_ref,
s.payment_id AS line_payment_id, s.amount, s.currency, s.fee, s.occurred_at,
o.id AS attempt_id, o.payment_id, o.request_id AS our_request_id, o.kind AS our_kind,
o.amount AS our_amount, o.currency AS our_currency, o.created_at AS our_at,
{authorization} AS our_authorization_ref
"""
_CARD_AUTHORIZATION = "(SELECT p.authorization_ref FROM payments p WHERE p.id = o.payment_id)"
_COLUMNS = _COLUMNS_OF.format(authorization=_CARD_AUTHORIZATION)

# A line and our attempt that agree on amount and currency stay in the database.
_DIFFERENT = "o.id IS NULL OR o.amount IS NULL OR s.amount <> o.amount OR s.currency <> o.currency"

# Pass one: the statement against the day's attempts on our request id and kind, in one
# full join. Out come lines no attempt of the day has, attempts of the day no line has, and
# pairs whose amount or currency differ.
BY_REFERENCE_POSTGRES = f"""
SELECT {_COLUMNS}
FROM recon_stage s
FULL JOIN ({_OURS_OF_DAY}) o ON o.request_id = s.request_id AND o.kind = s.kind
WHERE s.line_no IS NULL OR {_DIFFERENT}
"""  # noqa: S608 - put together from this module's own fragments

# The same on SQLite, whose full joins are too recent to count on: the statement's side,
# then our attempts no line has.
BY_REFERENCE_SQLITE = f"""
WITH o AS ({_OURS_OF_DAY})
SELECT {_COLUMNS}
FROM recon_stage s LEFT JOIN o ON o.request_id = s.request_id AND o.kind = s.kind
WHERE {_DIFFERENT}
UNION ALL
SELECT {_COLUMNS}
FROM o LEFT JOIN recon_stage s ON s.request_id = o.request_id AND s.kind = o.kind
WHERE s.line_no IS NULL
"""  # noqa: S608 - put together from this module's own fragments

# Pass one's other half: the lines whose reference is listed more than once, with the
# day's attempt they name, if any (found by index). Kept out of the full join, where
# checking a million lines against this short list cost more than finding them here.
LISTED_TWICE = f"""
SELECT {_COLUMNS}
FROM recon_twice t
JOIN recon_stage s ON s.request_id = t.request_id
LEFT JOIN ({_OURS_OF_DAY}) o ON o.request_id = s.request_id AND o.kind = s.kind
"""  # noqa: S608 - put together from this module's own fragments

# Lines pass one left that name an attempt of an earlier day (within the look-back): a late
# line closing a timing break, or one already reconciled. A few rows, found by index.
EARLIER_DAYS = f"""
SELECT l.line_no, a.id AS attempt_id, a.payment_id, a.amount AS our_amount,
       p.currency AS our_currency, a.created_at AS our_at
FROM recon_left l
JOIN payment_attempts a ON a.request_id = l.request_id
JOIN payments p ON p.id = a.payment_id
WHERE {_OURS} AND a.created_at >= :since AND a.created_at < :start AND {_OUR_KIND} = l.kind
"""  # noqa: S608 - put together from this module's own fragments

CARRIED_BREAKS = """
SELECT b.id AS break_id, b.attempt_id, b.request_id, b.kind, b.currency, b.ledger_amount,
       b.occurred_at, b.payment_id, p.authorization_ref
FROM reconciliation_breaks b LEFT JOIN payments p ON p.id = b.payment_id
WHERE b.channel_id = :channel AND b.status = 'open' AND b.type = 'timing'
  AND b.statement_date < :day
"""


# ------------------------------------------------------------------------- payout rails

# A rail's movements of the day: the payouts it carried that we recorded paid (or paid,
# then returned), by the day they were sent (the rail pays after we send, as a channel
# settles after our attempt: a payout sent just before the cut-off is a timing break), and
# the returns we recorded that day. The payout id stands for both the attempt and the
# payment. (Sent payouts we recorded failed, or still in transit, are not ours to match:
# a line naming one is a break, told apart by `PAYOUTS_NAMED`.)
_PAYOUTS_OF_DAY = """
SELECT p.id, p.id AS payment_id, p.request_id, p.amount, p.sent_at AS created_at,
       'payout' AS kind, p.currency
FROM payouts p
WHERE p.rail = :channel AND p.status IN ('paid', 'returned')
  AND p.sent_at >= :start AND p.sent_at < :end
UNION ALL
SELECT p.id, p.id AS payment_id, p.request_id, p.amount, p.returned_at AS created_at,
       'return' AS kind, p.currency
FROM payouts p
WHERE p.rail = :channel AND p.status = 'returned'
  AND p.returned_at >= :start AND p.returned_at < :end
"""
_PAYOUT_COLUMNS = _COLUMNS_OF.format(authorization="CAST(NULL AS VARCHAR(100))")

# Lines pass one left that name a payout (or return) of an earlier day: by the payouts'
# unique request id, a few rows.
_PAYOUT_EARLIER_DAYS = """
SELECT l.line_no, p.id AS attempt_id, p.id AS payment_id, p.amount AS our_amount,
       p.currency AS our_currency,
       CASE WHEN l.kind = 'return' THEN p.returned_at ELSE p.sent_at END AS our_at
FROM recon_left l
JOIN payouts p ON p.request_id = l.request_id
WHERE p.rail = :channel AND (
  (l.kind = 'payout' AND p.status IN ('paid', 'returned')
   AND p.sent_at >= :since AND p.sent_at < :start)
  OR (l.kind = 'return' AND p.status = 'returned'
   AND p.returned_at >= :since AND p.returned_at < :start))
"""

# The lines left unmatched that name one of the rail's payouts whatever its state: a
# payout the rail paid that we recorded failed, or one still in transit.
PAYOUTS_NAMED = """
SELECT l.line_no, p.id AS payout_id, p.status AS payout_status,
       p.merchant_id AS payout_merchant
FROM recon_left l
JOIN payouts p ON p.request_id = l.request_id
WHERE p.rail = :channel
"""


@dataclass(frozen=True, slots=True)
class Queries:
    """The statements that read our side, for one kind of channel."""

    by_reference_postgres: str
    by_reference_sqlite: str
    listed_twice: str
    earlier_days: str


CARD = Queries(BY_REFERENCE_POSTGRES, BY_REFERENCE_SQLITE, LISTED_TWICE, EARLIER_DAYS)
PAYOUT = Queries(
    by_reference_postgres=BY_REFERENCE_POSTGRES.replace(_OURS_OF_DAY, _PAYOUTS_OF_DAY).replace(
        _COLUMNS, _PAYOUT_COLUMNS
    ),
    by_reference_sqlite=BY_REFERENCE_SQLITE.replace(_OURS_OF_DAY, _PAYOUTS_OF_DAY).replace(
        _COLUMNS, _PAYOUT_COLUMNS
    ),
    listed_twice=LISTED_TWICE.replace(_OURS_OF_DAY, _PAYOUTS_OF_DAY).replace(
        _COLUMNS, _PAYOUT_COLUMNS
    ),
    earlier_days=_PAYOUT_EARLIER_DAYS,
)
