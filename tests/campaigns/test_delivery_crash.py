"""Exactly one copy under killed workers: a real Celery worker process sends a campaign of a few
thousand recipients into a real SMTP server on loopback that counts the copies each recipient got;
the worker is killed with SIGKILL at random moments, several times, and started again.

The guarantee (README, "Sending campaigns"): nobody is skipped, and each kill repeats at most the
message that each of the worker's SMTP connections had in flight, accepted by the server but not
yet marked sent. Normally that is none."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from kombu import Connection

from campaigns import delivery
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from salloq.celery import app
from salloq.core.broker import Transport
from tests.campaigns.conftest import make_campaign, start_counting_sink
from tests.campaigns.test_delivery_workers import audience_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 3000
KILLS = 4
CONNECTIONS_PER_WORKER = 2  # --concurrency 2: two send tasks at once, each over its own connection
LEASE_SECONDS = 5
SERVICES = {"DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}


def database_url() -> str:
    """The test database, for the worker process: the test's rows are committed (transaction=True)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """`celery -A salloq worker` in its own process group, on the embedded filesystem broker."""

    def __init__(self, var: Path, smtp_port: int):
        self.var = var
        self.env = {k: v for k, v in os.environ.items() if k not in SERVICES}
        self.env.update(
            DATABASE_URL=database_url(),
            SALLOQ_VAR_DIR=str(var),
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
            CAMPAIGN_CLAIM_LEASE_SECONDS=str(LEASE_SECONDS),
            CAMPAIGN_BATCH_SIZE="200",
            CAMPAIGN_SEND_TASKS=str(CONNECTIONS_PER_WORKER),
        )
        self.process: subprocess.Popen | None = None
        folders = {"queue": "queue", "unacked": "unacked", "corrupt": "corrupt", "control": "control"}
        for folder in folders.values():
            (var / "broker" / folder).mkdir(parents=True, exist_ok=True)
        self.broker_options = {
            "data_folder_in": str(var / "broker" / "queue"),
            "data_folder_out": str(var / "broker" / "queue"),
            "unacked_folder": str(var / "broker" / "unacked"),
            "corrupt_folder": str(var / "broker" / "corrupt"),
            "control_folder": str(var / "broker" / "control"),
        }

    def start(self) -> None:
        log = (self.var / "worker.log").open("ab")
        command = [sys.executable, "-m", "celery", "-A", "salloq", "worker", "--pool", "prefork"]
        command += ["--concurrency", str(CONNECTIONS_PER_WORKER), "--without-gossip", "--without-mingle"]
        self.process = subprocess.Popen(
            [*command, "--loglevel", "INFO"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def enqueue_senders(self, campaign_id: int) -> None:
        """What delivery._enqueue_senders does, onto the worker's broker (what beat's tick does
        for a send nobody works on)."""
        with Connection(transport=Transport, transport_options=self.broker_options) as broker:
            for _ in range(CONNECTIONS_PER_WORKER):
                app.send_task(delivery.SEND_TASK, args=[campaign_id], connection=broker)

    def log(self) -> str:
        return (self.var / "worker.log").read_text(errors="replace")[-4000:]


def status(campaign_id: int) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign_id)


def test_sigkilled_workers_skip_nobody_and_repeat_at_most_the_messages_in_flight(company, tmp_path, monkeypatch):
    company.send_rate_per_second = 100_000  # as fast as the worker goes
    company.save(update_fields=["send_rate_per_second"])
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)
    campaign = delivery.send_campaign(campaign=make_campaign(company, lists=[audience_of(company, RECIPIENTS)]))
    sink, controller = start_counting_sink(pipelining=True)  # as Postfix offers it
    worker = Worker(tmp_path, controller.port)
    kills = 0
    try:
        for _ in range(KILLS):
            worker.start()
            worker.enqueue_senders(campaign.pk)
            # A random moment mid-send: after a random number of further messages, plus a jitter.
            target = len(sink.received) + random.randint(50, RECIPIENTS // (KILLS + 2))
            deadline = time.monotonic() + 120
            while len(sink.received) < target and status(campaign.pk) == CampaignStatus.SENDING:
                assert time.monotonic() < deadline, f"the worker sent nothing more:\n{worker.log()}"
                time.sleep(0.01)
            time.sleep(random.uniform(0, 0.05))
            worker.kill()
            kills += 1
            assert status(campaign.pk) == CampaignStatus.SENDING, "killed too late to prove anything"

        worker.start()
        deadline = time.monotonic() + 240
        while status(campaign.pk) != CampaignStatus.SENT:
            assert time.monotonic() < deadline, f"the campaign did not finish:\n{worker.log()}"
            # The killed workers' claims expire after the lease; beat's tick would enqueue again.
            worker.enqueue_senders(campaign.pk)
            time.sleep(LEASE_SECONDS)
    finally:
        if worker.process and worker.process.poll() is None:
            worker.kill()
        controller.stop()

    copies = sink.copies()
    emails = set(CampaignRecipient.objects.filter(campaign=campaign).values_list("email", flat=True))
    assert len(emails) == RECIPIENTS
    assert emails - set(copies) == set(), "skipped recipients"
    assert set(copies) == emails
    duplicates = sum(count - 1 for count in copies.values())
    print(f"{kills} kills, {duplicates} duplicate messages, {RECIPIENTS} recipients")
    assert duplicates <= kills * CONNECTIONS_PER_WORKER
    assert not CampaignRecipient.objects.filter(campaign=campaign).exclude(status=RecipientStatus.SENT).exists()
