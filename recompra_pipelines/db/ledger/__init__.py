"""The cashback ledger's SQL: reconciliation of a day's sales (``sales``), campaign cashback
(``campaigns``), redemption (``redemption``) and expiry (``expiry``), all written through one
path (``books``).

Every operation follows the same four moves, inside the caller's transaction:

1. decide *what should exist* with set-based queries and find what is missing by its
   idempotency key (``domain.keys``); an unchanged re-run finds nothing and writes nothing;
2. lock the affected balance rows and only then read the open lots and debts
   (``books.open_books``);
3. let ``domain.cashback.Book`` apply the rules (amounts, FIFO, reversal split);
4. write entries, allocations and lot consumption in bulk, and move each balance by SQL
   increments (``books.write_books``).

The sync and expiry steps also hold the organization's advisory lock
(``db.bulk.lock_organization``); a point-of-sale redemption needs only the client's balance row
lock.
"""

from recompra_pipelines.db.ledger.books import LedgerConflict, Program, active_program
from recompra_pipelines.db.ledger.campaigns import (
    CampaignGrant,
    grant_campaign_cashback,
    grant_campaign_cashbacks,
    reconcile_campaign_grants,
)
from recompra_pipelines.db.ledger.expiry import ExpiryCounts, expire_due_lots
from recompra_pipelines.db.ledger.redemption import Redemption, redeem
from recompra_pipelines.db.ledger.reversals import LedgerCounts
from recompra_pipelines.db.ledger.sales import reconcile_sales
from recompra_pipelines.domain.cashback import (
    Book,
    CashbackError,
    InsufficientBalance,
    RedemptionRejected,
)

__all__ = [
    "Book",
    "CashbackError",
    "CampaignGrant",
    "ExpiryCounts",
    "InsufficientBalance",
    "LedgerConflict",
    "LedgerCounts",
    "Program",
    "Redemption",
    "RedemptionRejected",
    "active_program",
    "expire_due_lots",
    "grant_campaign_cashback",
    "grant_campaign_cashbacks",
    "reconcile_campaign_grants",
    "reconcile_sales",
    "redeem",
]
