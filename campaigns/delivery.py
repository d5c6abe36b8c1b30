"""Sending campaigns (being built: see issue 13, stream D)."""


def start_due_campaigns() -> int:
    return 0


def send_campaign_batches(*, campaign_id: int) -> int:
    return 0
