"""The asset groups of the UI, one per domain, and the per org x day sync graph.

Assets live in the group of what they are about; the `erp_sync` job selects the sync graph's
assets by name, so a group never has to hold an asset only to put it in a job.
"""

from enum import StrEnum


class AssetGroup(StrEnum):
    ERP = "erp"  # ERP extracts, staging, and the CRM entities and sales built from them
    CASHBACK = "cashback"  # the ledger: accruals, reversals, expiry
    CAMPAIGNS = "campaigns"  # purchase-triggered interactions and attribution
    MESSAGING = "messaging"  # WhatsApp sends
    LIFECYCLE = "lifecycle"  # RFM and the once-a-day campaigns
    MAINTENANCE = "maintenance"  # retention


# The job that syncs one org x day (the schedule, the organizations sensor and backfills run it).
SYNC_JOB = "erp_sync"

# The per org x day sync graph, in run order: what every `erp_sync` run materializes.
SYNC_GRAPH_ASSETS = (
    "erp_raw_extract",
    "erp_normalized_sales",
    "crm_entities",
    "crm_sales",
    "cashback_ledger",
    "campaign_interactions",
    "sale_attribution",
    "whatsapp_immediate_dispatch",
)
