"""Signals other domains listen to without contacts importing them.

`contact_erased` (sender: Contact, contact=...) is sent inside `contact_erase`'s transaction, so a
receiver that forgets its own copies of the person's data (a campaign's recipient address, say)
commits or rolls back with the erasure itself.
"""

from django.dispatch import Signal

contact_erased = Signal()
