"""Every change to an API key's row drops its cached lookup, whichever path made it.

Revoking goes through a service, but a key can also be edited or deleted in the admin (one at a
time or with "delete selected"), deleted with its company, or changed from a shell; a key
deleted or edited there must not keep working, as it was, for the lookup's cache lifetime.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .authentication import forget_principal
from .models import ApiKey


@receiver(post_save, sender=ApiKey, dispatch_uid="apikey-forget-on-save")
@receiver(post_delete, sender=ApiKey, dispatch_uid="apikey-forget-on-delete")
def forget_cached_lookup(sender, instance: ApiKey, using: str, **kwargs) -> None:
    if kwargs.get("created"):
        return  # a new key has no cached lookup
    key_hash = instance.key_hash
    forget_principal(key_hash)
    # Again after the commit: a request that read the row before it may have cached it meanwhile.
    transaction.on_commit(lambda: forget_principal(key_hash), using=using)
