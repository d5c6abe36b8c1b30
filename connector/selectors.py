from .models import ACTIVE_STATUSES, ShopConnection, ShopSyncRun

RECENT_RUNS = 10


def recent_runs(*, connection: ShopConnection | None) -> list[ShopSyncRun]:
    if connection is None:
        return []
    return list(ShopSyncRun.objects.for_company(connection.company_id).filter(connection=connection)[:RECENT_RUNS])


def active_run(*, connection: ShopConnection | None) -> ShopSyncRun | None:
    if connection is None:
        return None
    runs = ShopSyncRun.objects.for_company(connection.company_id).filter(connection=connection)
    return runs.filter(status__in=ACTIVE_STATUSES).first()
