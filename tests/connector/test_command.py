"""manage.py sync_shop: a run in this process with a progress bar on stderr and a summary on stdout."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Order
from connector.models import ShopSyncRun, SyncStatus
from tests.connector.conftest import SHOP

pytestmark = pytest.mark.django_db


def sync_shop(*args, settings=None) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_shop", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_syncs_with_a_progress_bar_and_prints_the_counts(company, shop, connection, settings):
    settings.CONNECTOR_HOURLY_LIMIT = 100_000
    out, err = sync_shop("--company", "Acme Shop")
    assert "Sync 1 of Acme Shop: full" in err
    assert "100% 450/450" in err and "[##############################]" in err
    assert "Sync 1: succeeded in" in out and "528 requests to the shop" in out
    assert "  orders: 450 created" in out and "  customers: 250 created, 0 matched" in out
    assert Order.objects.for_company(company).count() == SHOP["orders"]

    out, err = sync_shop("--company", "Acme Shop")
    assert "incremental (orders from" in err
    assert "4 requests to the shop" in out and "  products: 230 unchanged" in out

    out, _ = sync_shop("--company", "Acme Shop", "--full")
    assert "  orders: 450 unchanged" in out


def test_the_command_names_what_is_wrong(company, shop, connection, settings):
    with pytest.raises(CommandError, match="No company is named 'Nobody'"):
        sync_shop("--company", "Nobody")
    shop.keys.clear()
    with pytest.raises(CommandError, match="failed: The shop refused the API key: Invalid or missing API key"):
        sync_shop("--company", "Acme Shop")
    assert ShopSyncRun.objects.get().status == SyncStatus.FAILED


def test_a_company_without_a_connection_is_told_so(other_company):
    with pytest.raises(CommandError, match="has no shop connection"):
        sync_shop("--company", other_company.name)
