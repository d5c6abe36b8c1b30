from connector import services, sync
from connector.models import ShopSyncRun


def run_sync(connection, *, full: bool = False, sleeps=None, **client_options) -> ShopSyncRun:
    """Start a run of the connection and carry it out here, with a client that does not really sleep."""
    run = services.sync_start(connection=connection, full=full, trigger="test", enqueue=False)
    return resume(run, sleeps=sleeps, **client_options)


def resume(run: ShopSyncRun, *, sleeps=None, **client_options) -> ShopSyncRun:
    client_options.setdefault("jitter", lambda low, high: 0.0)
    # The sleep does not pass time: a run past the hourly limit would wait forever (test_client tests it).
    client_options.setdefault("hourly_limit", 100_000)
    client = services.client_for(
        run.connection, sleep=sleeps if sleeps is not None else (lambda s: None), timeout=5, **client_options
    )
    with client:
        sync.sync_run(run_id=run.pk, client=client)
    run.refresh_from_db()
    return run
