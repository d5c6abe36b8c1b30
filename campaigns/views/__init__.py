"""The campaigns dashboard: list, editor, preview, sending and its progress, report, templates and
Settings > Sending (campaigns.views.outbox is the embedded mail catcher's page)."""
