"""Reads of campaigns: the list with its key numbers (campaigns.py) and a campaign's report (stats.py)."""
