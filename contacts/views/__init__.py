"""The contacts dashboard: contacts and lists (contacts.py), segments and their builder (segments.py),
CSV import and export (imports.py), and the public consent pages reached from emails (consent.py)."""
