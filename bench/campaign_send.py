"""Sending one email campaign through two real Celery workers, against a floor and a peer, in one run.

Run from the repository root:  .venv/bin/python bench/campaign_send.py [--contacts 100000 --repeats 3]

What it does, all on loopback and bounded in time (--time-limit, 3600 s by default):
  1. creates a scratch PostgreSQL database, migrates it, and seeds with server-side SQL
     (INSERT ... SELECT generate_series) one company (its send rate lifted, so the token bucket
     never waits) and --contacts subscribed contacts in one list;
  2. starts Postfix's smtp-sink on a free port (it accepts and discards, and counts messages) and
     two Celery worker processes (`celery -A salloq worker -c 1`, prefork, the run's own queue on
     Redis) sending to it;
  3. sends a 200-contact warm-up campaign (worker imports, connections), then for --repeats rounds,
     the order of the sides turning each round so a drift in machine load favours none:
       ours  — a ~10 KB HTML campaign with personalization and links, created through
               campaigns.services and started with campaigns.delivery.send_campaign; timed from
               that call until every recipient row is sent; application CPU is the two worker
               processes' CPU time (main and pool process, from /proc) plus the start call's own;
       floor — the same number of pre-rendered messages (one of ours, same bytes) pushed with
               smtplib over the same number of connections (2 processes, one connection each);
       peer  — django-post-office (pinned, installed outside the tree on first use, its own
               database and settings: bench/post_office_settings.py) queueing the same messages
               with `mail.send_many` and sending them with 2 processes (bench/campaign_peer.py);
  4. profiles the workers' task code with cProfile (CPU time) on a campaign of --profile-contacts
     and splits application CPU per message into rendering, SMTP, database, Celery and the rest;
  5. prints messages/s and CPU per message of each side (medians), the ratios and the targets:
     ours at least 0.7x the floor's rate and under 1 ms of application CPU a message, and faster
     than the peer (issue 13). Every side must deliver exactly N messages to the sink.
Whatever happens, the workers and the sink are stopped, both scratch databases dropped and the run's
Redis keys and queue deleted.

Exit status: 0 when every run was clean (also when a target is missed, unless --check), 1 on any
failure (a message not sent or not received, a worker that dies, the time limit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import pstats
import re
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import (  # noqa: E402
    BenchError,
    cpu_seconds,
    drop_database,
    free_port,
    log,
    read_tail,
    recreate_database,
    run_bounded,
    stop_process_group,
)

# Ours should reach this fraction of the floor's rate, within this much application CPU a message.
TARGET_FRACTION = 0.7
TARGET_CPU_US = 1000.0
CONNECTIONS = 2  # two worker processes, two floor senders, two post_office processes
WARMUP_CONTACTS = 200
POST_OFFICE_VERSION = "3.12.0"
SMTP_SINK = "/usr/sbin/smtp-sink"
SENDER = "news@bench-shop.example"

SEED_CONTACTS_SQL = """
INSERT INTO contacts_contact (company_id, email, external_id, phone, first_name, last_name, lang, source,
                              status, properties, tags, erased_at, created_at, updated_at)
SELECT %(company)s, 'bench.contact' || g || '@example.com', 'C' || g, '', 'First' || (g %% 997),
       'Last' || (g %% 991), 'en', 'bench', 'subscribed', jsonb_build_object('city', 'Lyon'), '[]'::jsonb,
       NULL, now(), now()
FROM generate_series(0::bigint, %(n)s - 1) AS g
"""
# Contacts in id order are contact 0, 1, 2...: a list of the first n is the first n ids.
SEED_MEMBERS_SQL = """
INSERT INTO contacts_listmembership (contact_list_id, contact_id, status, created_at, subscribed_at)
SELECT %(list)s, id, 'subscribed', now(), now()
FROM contacts_contact WHERE company_id = %(company)s ORDER BY id LIMIT %(n)s
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000, help="recipients of each send (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds of each side (default 3)")
    parser.add_argument("--skip-peer", action="store_true", help="leave django-post-office out")
    parser.add_argument(
        "--peer-optional", action="store_true", help="leave the peer out, with a note, when it cannot be installed"
    )
    parser.add_argument(
        "--profile-contacts",
        type=int,
        default=None,
        help="recipients of the profiled campaign (default: min(--contacts, 20000)); 0: no profile",
    )
    parser.add_argument("--profile-out", type=Path, help="also write the merged profile there (pstats)")
    parser.add_argument("--time-limit", type=int, default=3600, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_campaign_send", help="scratch database, dropped after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="Celery broker and cache")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "campaign_send.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    # Development only: the floor and the peer while campaigns.delivery does not exist yet.
    parser.add_argument("--without-ours", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("contacts", "repeats", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.profile_contacts is None:
        args.profile_contacts = min(args.contacts, 20_000)
    if not 0 <= args.profile_contacts <= args.contacts:
        parser.error("--profile-contacts must be between 0 and --contacts")
    return args


# --- The campaign -----------------------------------------------------------------------------------

SUBJECT = '{{ contact.first_name|default:"Hello" }}, our winter picks are in'
PREVIEW_TEXT = "Six new arrivals, free delivery this week, and a gift for {{ contact.first_name|default:'you' }}."
ARTICLE = """
<tr><td class="article">
  <h2>{title}</h2>
  <img src="https://bench-shop.example/img/{slug}.jpg" width="560" alt="{title}">
  <p>{body}</p>
  <p><a class="button" href="https://bench-shop.example/p/{slug}?utm_source=newsletter&amp;utm_campaign=winter">See {title}</a></p>
</td></tr>"""
BODY = (
    "Made to last and chosen by our buyers this season: warm, light, and easy to care for. "
    "Every order this week ships free, and returns stay free for 60 days. "
) * 5


def campaign_content() -> str:
    """About 10 KB of newsletter HTML: a style block (inlined when sending), personalization in a
    few places, eight articles with a link each, and a closing link."""
    titles = ["Wool Scarf", "Down Jacket", "Leather Boots", "Knit Beanie", "Thermal Gloves", "Cashmere Sweater"]
    titles += ["Fleece Blanket", "Rain Coat"]
    articles = "".join(ARTICLE.format(title=title, slug=title.lower().replace(" ", "-"), body=BODY) for title in titles)
    return f"""<style>
  .wrapper {{ background: #f4f4f4; font-family: Helvetica, Arial, sans-serif; }}
  .article h2 {{ color: #222222; font-size: 20px; margin: 16px 0 8px; }}
  .article p {{ color: #444444; font-size: 15px; line-height: 22px; }}
  .button {{ background: #d9480f; color: #ffffff; padding: 10px 18px; border-radius: 4px; text-decoration: none; }}
</style>
<table class="wrapper" width="100%" cellpadding="0" cellspacing="0">
<tr><td>
  <h1>Hi {{{{ contact.first_name|default:"there" }}}} {{{{ contact.last_name }}}},</h1>
  <p>Winter is here, and so are our new arrivals at {{{{ company.name }}}}. We picked eight for you.</p>
</td></tr>{articles}
<tr><td>
  <p>This message was sent to {{{{ contact.email }}}}.
  <a href="https://bench-shop.example/winter?utm_source=newsletter">See the whole collection</a></p>
</td></tr>
</table>
"""


# --- Processes: the sink and the workers ------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (a Celery worker: its main process and its pool process)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            pending += [int(child) for child in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
    return found


class Sink:
    """smtp-sink: accepts every message and throws it away; -c writes its running counters
    ("sess=N quit=N mesg=N") to a file, so each side's delivered messages can be checked."""

    def __init__(self, scratch: Path) -> None:
        if not Path(SMTP_SINK).exists():
            raise BenchError(f"{SMTP_SINK} is missing: apt-get install postfix (the bench uses its smtp-sink)")
        self.port = free_port()
        self.counters = scratch / "smtp-sink.out"
        command = [SMTP_SINK, "-c", "-a"]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # it refuses to run as root otherwise
        command += [f"127.0.0.1:{self.port}", "256"]
        self.proc = subprocess.Popen(
            command, stdout=self.counters.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    stop_process_group(self.proc)
                    raise BenchError(f"smtp-sink did not start: {self.counters.read_text(errors='replace')}") from None
                time.sleep(0.1)

    def messages(self) -> int:
        found = re.findall(rb"mesg=(\d+)", self.counters.read_bytes()[-200:])
        return int(found[-1]) if found else 0

    def stop(self) -> None:
        stop_process_group(self.proc)


class Workers:
    """Two `celery -A salloq worker -c 1` processes on the run's own queue."""

    def __init__(self, env: dict[str, str], scratch: Path, queue: str) -> None:
        self.logs = [scratch / f"worker-{n}.log" for n in range(CONNECTIONS)]
        self.procs = []
        for n, log_file in enumerate(self.logs):
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "salloq",
                "worker",
                "-c",
                "1",
                "-P",
                "prefork",
                "-Q",
                queue,
                "-n",
                f"bench{n}-{os.getpid()}@%h",
                # No broadcast chatter between the two: what is measured is the sending.
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--include",
                "bench.campaign_profile",
                "--loglevel",
                "INFO",
                "--logfile",
                str(log_file),
            ]
            # Celery prints its banner on stdout whatever --logfile says: into the log too.
            with log_file.open("ab") as output:
                self.procs.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + 90
        for proc, log_file in zip(self.procs, self.logs, strict=True):
            while not (log_file.exists() and " ready." in log_file.read_text(errors="replace")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"a Celery worker did not start:\n{read_tail(log_file)}")
                time.sleep(0.2)

    def check_alive(self) -> None:
        for proc, log_file in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise BenchError(f"a Celery worker died:\n{read_tail(log_file)}")

    def cpu_seconds(self) -> float:
        return cpu_seconds([pid for proc in self.procs for pid in process_tree(proc.pid)])

    def settled_cpu_seconds(self) -> float:
        """CPU seconds once the workers are idle again: the tasks still finish after the last row
        is marked (and the campaign enqueues more senders than there are workers)."""
        deadline = time.monotonic() + 15
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            current = self.cpu_seconds()
            if current == last:
                break
            last = current
        return last

    def stop(self) -> None:
        for proc in self.procs:
            stop_process_group(proc)


# --- The sides --------------------------------------------------------------------------------------


@dataclass
class SideRun:
    side: str  # "ours", "floor" or "peer"
    round: int
    messages: int
    seconds: float
    messages_per_second: float
    cpu_us_per_message: float  # application CPU: ours the workers + start call, floor the senders, peer its processes
    detail: dict = field(default_factory=dict)


class Bench:
    def __init__(self, args: argparse.Namespace, scratch: Path, queue: str) -> None:
        self.args, self.scratch, self.queue = args, scratch, queue
        self.sink: Sink | None = None
        self.workers: Workers | None = None
        self.sample_message = b""

    # The database, in this process (Django set up on the scratch database).

    def seed(self) -> None:
        from django.db import connection

        from contacts.models import ContactList
        from salloq.core.models import Company

        started = time.monotonic()
        self.company = Company.objects.create(
            name="Bench Shop",
            sender_name="Bench Shop",
            sender_email=SENDER,
            reply_to_email="care@bench-shop.example",
            postal_address="1 Rue du Bench, 69001 Lyon, France",
            # The token bucket is not what is measured: lifted far above any rate reached here.
            send_rate_per_second=10_000_000,
        )
        self.lists = {}
        with connection.cursor() as cursor:
            cursor.execute(SEED_CONTACTS_SQL, {"company": self.company.id, "n": self.args.contacts})
            for name, size in (
                ("main", self.args.contacts),
                ("warm-up", min(WARMUP_CONTACTS, self.args.contacts)),
                ("profile", self.args.profile_contacts),
            ):
                if not size:
                    continue
                contact_list = ContactList.objects.create(company=self.company, name=f"Bench {name}")
                cursor.execute(SEED_MEMBERS_SQL, {"list": contact_list.id, "company": self.company.id, "n": size})
                self.lists[name] = (contact_list, size)
            cursor.execute("ANALYZE")
        log(f"seeded {self.args.contacts} contacts ({time.monotonic() - started:.1f} s)")

    def create_campaign(self, list_name: str, name: str):
        contact_list, _ = self.lists[list_name]
        data = {
            "name": name,
            "type": "email",
            "subject": SUBJECT,
            "preview_text": PREVIEW_TEXT,
            "content": campaign_content(),
            "list_id": contact_list.id,
        }
        try:
            from campaigns.services import campaign_create
        except ImportError:  # stream A's services not landed yet: the model directly
            from campaigns.models import Campaign

            campaign = Campaign.objects.create(
                company=self.company, **{k: v for k, v in data.items() if k != "list_id"}
            )
            campaign.lists.add(contact_list)
            return campaign
        return campaign_create(company=self.company, data=data)

    def recipient_counts(self, campaign_id: int) -> dict[str, int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT status, count(*) FROM campaigns_campaignrecipient WHERE campaign_id = %s GROUP BY status",
                [campaign_id],
            )
            return dict(cursor.fetchall())

    def send_and_wait(self, list_name: str, name: str) -> tuple[float, float, int]:
        """Start a campaign and wait for every recipient row to be sent: (seconds, CPU seconds of
        the start call in this process, campaign id)."""
        from django.db import connection

        # delivery enqueues the send task by name (current_app.tasks[...]); campaigns/apps.py does not
        # import campaigns.tasks in ready() (contacts/apps.py does), so this process registers it.
        import campaigns.tasks  # noqa: F401
        from campaigns.delivery import send_campaign

        _, expected = self.lists[list_name]
        campaign = self.create_campaign(list_name, name)
        timeout = max(120.0, expected / 50)  # 50 messages/s: something is wrong
        started, cpu_started = time.perf_counter(), time.process_time()
        send_campaign(campaign=campaign)
        start_cpu = time.process_time() - cpu_started
        with connection.cursor() as cursor:
            while True:
                # Cheap to ask 20 times a second: the unsent rows have a partial index of their own.
                cursor.execute(
                    "SELECT c.recipient_count, EXISTS (SELECT 1 FROM campaigns_campaignrecipient r "
                    "WHERE r.campaign_id = c.id AND r.status IN ('pending', 'sending')) "
                    "FROM campaigns_campaign c WHERE c.id = %s",
                    [campaign.id],
                )
                recipients, unsent = cursor.fetchone()
                if recipients and not unsent:
                    break
                if time.perf_counter() - started > timeout:
                    raise BenchError(
                        f"campaign {name} not sent after {timeout:.0f} s: {self.recipient_counts(campaign.id)}"
                    )
                self.workers.check_alive()
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        counts = self.recipient_counts(campaign.id)
        if counts != {"sent": expected}:
            raise BenchError(f"campaign {name}: expected {expected} recipients sent, got {counts}")
        return elapsed, start_cpu, campaign.id

    def render_sample(self, campaign_id: int) -> bytes:
        """One of our messages as the workers send it: the floor pushes these bytes."""
        from campaigns.models import Campaign, CampaignRecipient

        try:
            from campaigns import rendering
        except ImportError:
            rendering = None
        campaign = Campaign.objects.get(id=campaign_id)
        if rendering is not None and hasattr(rendering, "prepare"):
            recipient = CampaignRecipient.objects.filter(campaign=campaign).order_by("id").first()
            return rendering.prepare(campaign).render_batch([recipient])[0].data
        raise BenchError("campaigns.rendering.prepare is missing")

    def ours(self, round_no: int) -> SideRun:
        # The rows of earlier rounds would only make the table bigger from round to round.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE campaigns_campaignrecipient CASCADE")
        _, count = self.lists["main"]
        sink_before, cpu_before = self.sink.messages(), self.workers.cpu_seconds()
        seconds, start_cpu, _ = self.send_and_wait("main", f"Winter picks, round {round_no}")
        worker_cpu = self.workers.settled_cpu_seconds() - cpu_before
        self._check_sink("ours", sink_before, count)
        return SideRun(
            "ours",
            round_no,
            count,
            seconds,
            count / seconds,
            (worker_cpu + start_cpu) / count * 1e6,
            {
                "worker_cpu_us_per_message": worker_cpu / count * 1e6,
                "start_cpu_us_per_message": start_cpu / count * 1e6,
            },
        )

    def floor(self, round_no: int) -> SideRun:
        count = self.args.contacts
        sink_before = self.sink.messages()
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        shares = [(n * count // CONNECTIONS, (n + 1) * count // CONNECTIONS) for n in range(CONNECTIONS)]
        senders = [
            context.Process(target=_floor_sender, args=(self.sink.port, self.sample_message, first, last, results))
            for first, last in shares
        ]
        started = time.perf_counter()
        for sender in senders:
            sender.start()
        outcomes = [results.get(timeout=max(120.0, count / 50)) for _ in senders]
        elapsed = time.perf_counter() - started
        for sender in senders:
            sender.join(timeout=10)
        failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
        if failures:
            raise BenchError(f"floor sender failed: {failures[0]}")
        self._check_sink("floor", sink_before, count)
        return SideRun("floor", round_no, count, elapsed, count / elapsed, sum(outcomes) / count * 1e6)

    def peer(self, round_no: int, peer_env: dict[str, str], campaign_file: Path) -> SideRun:
        count = self.args.contacts
        sink_before = self.sink.messages()
        finished = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "campaign_peer.py"), "--contacts", str(count)]
            + ["--campaign", str(campaign_file), "--processes", str(CONNECTIONS)],
            cwd=ROOT,
            env=peer_env,
            capture_output=True,
            text=True,
            timeout=max(300.0, count / 20),
        )
        if finished.returncode != 0:
            raise BenchError(f"the peer failed:\n{finished.stdout[-2000:]}\n{finished.stderr[-3000:]}")
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        if result["sent"] != count or result["not_sent"]:
            raise BenchError(f"the peer sent {result['sent']} of {count} messages ({result['not_sent']} not sent)")
        self._check_sink("peer", sink_before, count)
        return SideRun(
            "peer",
            round_no,
            count,
            result["seconds"],
            count / result["seconds"],
            result["cpu_seconds"] / count * 1e6,
            {"queue_seconds": result["queue_seconds"], "send_seconds": result["send_seconds"]},
        )

    def _check_sink(self, side: str, before: int, expected: int) -> None:
        # smtp-sink writes its counters when a message ends; give its output a moment to land.
        deadline = time.monotonic() + 5
        while (received := self.sink.messages() - before) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        if received != expected:
            raise BenchError(f"{side}: the sink received {received} messages, expected {expected}")


def _floor_sender(port: int, message: bytes, first: int, last: int, results) -> None:
    """The floor: pre-rendered bytes over one plain smtplib connection, one transaction a message."""
    cpu_started = time.process_time()
    try:
        smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
        smtp.ehlo()
        for n in range(first, last):
            smtp.sendmail(SENDER, [f"bench.contact{n}@example.com"], message)
        smtp.quit()
    except Exception as exc:  # reported to the parent, which fails the run
        results.put(f"{type(exc).__name__}: {exc}")
        return
    results.put(time.process_time() - cpu_started)


def synthetic_message(company_name: str) -> bytes:
    """Development only (--without-ours): the campaign rendered for contact 0 by Django's
    EmailMultiAlternatives, when ours cannot render one."""
    import html2text
    from django.core.mail import EmailMultiAlternatives
    from django.template import Context, Template

    context = Context({"contact": {"first_name": "First0", "last_name": "Last0"}, "company": {"name": company_name}})
    html = Template(campaign_content()).render(context)
    message = EmailMultiAlternatives(
        Template(SUBJECT).render(context), html2text.html2text(html), SENDER, ["bench.contact0@example.com"]
    )
    message.attach_alternative(html, "text/html")
    return message.message().as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- The peer's installation ---------------------------------------------------------------------------


def ensure_peer() -> Path:
    """django-post-office, pinned, installed with pip into a directory outside the tree (never into
    the project's virtualenv: it is no dependency of the project). Its one dependency besides Django,
    nh3, is the project's too."""
    target = Path(tempfile.gettempdir()) / "salloq-bench-peer" / f"django-post-office-{POST_OFFICE_VERSION}"
    if (target / "post_office").is_dir():
        return target
    log(f"installing django-post-office=={POST_OFFICE_VERSION} into {target}")
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial)]
    command += [f"django-post-office=={POST_OFFICE_VERSION}"]
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"pip could not install django-post-office: {exc}") from None
    if finished.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BenchError(f"pip could not install django-post-office:\n{finished.stderr[-2000:]}")
    try:
        partial.rename(target)
    except OSError:  # another run installed it meanwhile
        shutil.rmtree(partial, ignore_errors=True)
    return target


# --- The profile ------------------------------------------------------------------------------------

# Where each file's own CPU time goes; a built-in (no file) counts for its caller's part.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    (
        "render",
        (
            "campaigns/rendering",
            "campaigns/personalization",
            "campaigns/mime",
            "campaigns/tracking",
            "django/template",
            "django/utils/html",
            "django/utils/safestring",
            "django/core/signing",
            "django/utils/functional",
            "django/utils/encoding",
            "css_inline",
            "html2text",
            "hmac.py",
            "base64.py",
            "quopri",
        ),
    ),
    # smtplib parses both addresses of every message with the email package (quoteaddr).
    ("smtp", ("smtplib", "socket.py", "ssl.py", "django/core/mail", "/email/")),
    ("database", ("django/db", "psycopg")),
    ("delivery (campaigns/delivery.py, tasks, audience, ratelimit)", ("campaigns/",)),
    ("celery", ("celery/", "kombu/", "billiard/", "vine/")),
]


def _part(function: tuple[str, int, str]) -> str | None:
    path = function[0]
    if path == "~" or path.startswith("<"):
        return None
    for part, markers in PARTS:
        if any(marker in path for marker in markers):
            return part
    return "other"


def _settled_profiles(directory: Path) -> list[Path]:
    """The workers' profile files once both are written and no longer change: the last rows are
    sent before the tasks that sent them return (and write their profile)."""
    deadline = time.monotonic() + 60
    last: list[tuple[str, float]] = []
    while time.monotonic() < deadline:
        files = sorted(directory.glob("worker-*.pstats"))
        state = [(f.name, f.stat().st_mtime) for f in files]
        if len(files) >= CONNECTIONS and state == last:
            return files
        last = state
        time.sleep(1.0)
    return sorted(directory.glob("worker-*.pstats"))


def profile_breakdown(files: list[Path], messages: int, top: int = 25) -> dict:
    stats = pstats.Stats(*[str(f) for f in files])
    parts: dict[str, float] = {}
    for function, (_, _, own, _, callers) in stats.stats.items():
        part = _part(function)
        if part is not None:
            parts[part] = parts.get(part, 0.0) + own
            continue
        # A built-in (a socket's sendall, a str method): its time under each caller goes to the caller's part.
        for caller, caller_times in callers.items():
            caller_part = _part(caller) or "other"
            parts[caller_part] = parts.get(caller_part, 0.0) + caller_times[2]
    total = sum(parts.values())
    by_file: dict[str, float] = {}
    for function, (_, _, own, _, _) in stats.stats.items():
        if function[0] != "~":
            name = "/".join(Path(function[0]).parts[-2:])
            by_file[name] = by_file.get(name, 0.0) + own
    ranked = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "messages": messages,
        "cpu_us_per_message_profiled": total / messages * 1e6,
        "parts_us_per_message": {k: v / messages * 1e6 for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
        "files_own_us_per_message": {
            name: own / messages * 1e6 for name, own in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]
        },
        "top_own_time": [
            {
                "function": f"{Path(f[0]).name}:{f[1]}({f[2]})",
                "calls": value[1],
                "own_us_per_message": value[2] / messages * 1e6,
                "cumulative_us_per_message": value[3] / messages * 1e6,
            }
            for f, value in ranked
        ],
    }


# --- The run ----------------------------------------------------------------------------------------


@dataclass
class Summary:
    date: str
    cpus: int | None
    load_average: list[float]
    settings: dict
    message_bytes: int
    runs: list[SideRun]
    median_messages_per_second: dict[str, float]
    median_cpu_us_per_message: dict[str, float]
    fraction_of_floor: float
    faster_than_peer: float | None
    target_fraction: float
    target_cpu_us: float
    target_met: bool
    peer_note: str = ""
    profile: dict = field(default_factory=dict)


def environment(args: argparse.Namespace, scratch: Path, prefix: str, sink_port: int, database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.campaign_settings",
        "DATABASE_URL": f"{args.pg_url}/{database}",
        "REDIS_URL": args.redis_url,
        "CACHE_URL": args.redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "CELERY_BROKER_URL": args.redis_url,
        "BENCH_CELERY_QUEUE": f"{prefix}:campaigns",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink_port),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "DEBUG": "0",  # DEBUG=1 would keep every query in memory
        "SECRET_KEY": "bench",
        "SITE_URL": "https://marketing.bench-shop.example",
        "SALLOQ_VAR_DIR": str(scratch / "var"),
        "LOG_LEVEL": "WARNING",
        "BENCH_PROFILE_FLAG": str(scratch / "profile.on"),
        "BENCH_PROFILE_DIR": str(scratch / "profiles"),
        "PYTHONUNBUFFERED": "1",
    }


def _peer_campaign_file(scratch: Path, company_name: str) -> Path:
    """The peer's template: the same subject and HTML (the same Django-template personalization)
    and a text part made from the HTML, as our send makes one."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    content = campaign_content()
    path = scratch / "peer_campaign.json"
    path.write_text(
        json.dumps(
            {
                "subject": SUBJECT,
                "html": content,
                "text": converter.handle(content),
                "sender": f"Bench Shop <{SENDER}>",
                "company": company_name,
            }
        )
    )
    return path


def measure(args: argparse.Namespace, scratch: Path, prefix: str, peer_dir: Path | None, peer_note: str) -> Summary:
    (scratch / "profiles").mkdir()
    peer_db = f"{args.db_name}_peer"
    bench = Bench(args, scratch, f"{prefix}:campaigns")
    bench.sink = Sink(scratch)
    try:
        env = environment(args, scratch, prefix, bench.sink.port, args.db_name)
        os.environ.update(env)
        recreate_database(args.pg_url, args.db_name)
        started = time.monotonic()
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        log(f"scratch database {args.db_name} migrated ({time.monotonic() - started:.1f} s)")
        bench.seed()

        peer_env = None
        if peer_dir is not None:
            recreate_database(args.pg_url, peer_db)
            peer_env = environment(args, scratch, prefix, bench.sink.port, peer_db)
            peer_env.update(
                {
                    "DJANGO_SETTINGS_MODULE": "bench.post_office_settings",
                    "PYTHONPATH": os.pathsep.join([str(peer_dir), str(ROOT)]),
                    "BENCH_POST_OFFICE_LOCK": str(scratch / "post_office"),
                }
            )
            migrated = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "campaign_peer.py"), "--migrate"],
                cwd=ROOT,
                env=peer_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if migrated.returncode != 0:
                raise BenchError(f"the peer's migrate failed:\n{migrated.stderr[-3000:]}")
            campaign_file = _peer_campaign_file(scratch, bench.company.name)

        sides: dict[str, Callable[[int], SideRun]] = {"ours": bench.ours, "floor": bench.floor}
        if args.without_ours:
            del sides["ours"]
            bench.sample_message = synthetic_message(bench.company.name)
        else:
            bench.workers = Workers(env, scratch, bench.queue)  # stopped in `finally` even if never ready
            bench.workers.wait_until_ready()
            log(f"smtp-sink on 127.0.0.1:{bench.sink.port}, {CONNECTIONS} Celery workers ready")
            seconds, _, warmup_id = bench.send_and_wait("warm-up", "Warm-up")
            bench.sample_message = bench.render_sample(warmup_id)
            log(f"warm-up campaign sent ({seconds:.1f} s); a message is {len(bench.sample_message)} bytes")
        if peer_env is not None:
            sides["peer"] = lambda n: bench.peer(n, peer_env, campaign_file)
        order = list(sides)
        runs: list[SideRun] = []
        for round_no in range(1, args.repeats + 1):
            # Turn the order each round, so a drift in machine load favours no side.
            shift = (round_no - 1) % len(order)
            for side in order[shift:] + order[:shift]:
                run = sides[side](round_no)
                runs.append(run)
                log(
                    f"round {round_no} {side:5}: {run.messages_per_second:8.0f} messages/s  {run.seconds:7.1f} s  "
                    f"CPU {run.cpu_us_per_message:6.0f} us/message  {run.detail or ''}"
                )

        profile: dict = {}
        if args.profile_contacts and not args.without_ours:
            flag = Path(env["BENCH_PROFILE_FLAG"])
            flag.touch()
            try:
                seconds, _, _ = bench.send_and_wait("profile", "Profiled")
            finally:
                flag.unlink()
            files = _settled_profiles(scratch / "profiles")
            if not files:
                logs = "\n".join(read_tail(log_file) for log_file in bench.workers.logs)
                raise BenchError(f"the profiled campaign left no profile:\n{logs}")
            profile = profile_breakdown(files, args.profile_contacts)
            if args.profile_out:
                pstats.Stats(*[str(f) for f in files]).dump_stats(str(args.profile_out))
            log(f"profiled campaign of {args.profile_contacts} sent ({seconds:.1f} s)")
    finally:
        if bench.workers is not None:
            bench.workers.stop()
        bench.sink.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            drop_database(args.pg_url, peer_db)
        _delete_queue(args.redis_url, f"{prefix}:campaigns")

    def median(side: str, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in runs if run.side == side)

    rates = {side: median(side, "messages_per_second") for side in sides}
    cpu = {side: median(side, "cpu_us_per_message") for side in sides}
    if "ours" in sides:
        cpu["ours_workers"] = statistics.median(r.detail["worker_cpu_us_per_message"] for r in runs if r.side == "ours")
    fraction = rates["ours"] / rates["floor"] if "ours" in rates else 0.0
    over_peer = rates["ours"] / rates["peer"] if "peer" in rates and "ours" in rates else None
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        load_average=list(os.getloadavg()),
        settings={
            "contacts": args.contacts,
            "repeats": args.repeats,
            "connections": CONNECTIONS,
            "profile_contacts": args.profile_contacts,
            "post_office": POST_OFFICE_VERSION if peer_env is not None else None,
        },
        message_bytes=len(bench.sample_message),
        runs=runs,
        median_messages_per_second=rates,
        median_cpu_us_per_message=cpu,
        fraction_of_floor=fraction,
        faster_than_peer=over_peer,
        target_fraction=TARGET_FRACTION,
        target_cpu_us=TARGET_CPU_US,
        target_met=fraction >= TARGET_FRACTION
        and cpu.get("ours", TARGET_CPU_US) < TARGET_CPU_US
        and (over_peer is None or over_peer > 1),
        peer_note=peer_note,
        profile=profile,
    )


def _delete_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        client.delete(queue, f"_kombu.binding.{queue}")
    finally:
        client.close()


LABELS = {
    "floor": "floor (smtplib, pre-rendered)",
    "ours": "ours (2 Celery workers)",
    "peer": f"peer (django-post-office {POST_OFFICE_VERSION})",
}


def report(summary: Summary) -> None:
    rates, cpu = summary.median_messages_per_second, summary.median_cpu_us_per_message
    repeats = summary.settings["repeats"]
    print()
    print(
        f"{summary.settings['contacts']} messages of {summary.message_bytes} bytes a side, "
        f"{CONNECTIONS} SMTP connections each, medians of {repeats}; load average {summary.load_average[0]:.1f}"
    )
    print(f"{'side':38} {'messages/s':>11} {'CPU/message':>12}")
    for side in ("floor", "ours", "peer"):
        if side in rates:
            print(f"{LABELS[side]:38} {rates[side]:11.0f} {cpu[side]:9.0f} us")
    if "ours" not in rates:
        print("  ours: left out (--without-ours)")
        return
    print(f"  (ours: workers {cpu['ours_workers']:.0f} us a message, the rest the start call: snapshot, freeze)")
    if summary.peer_note:
        print(f"  peer: {summary.peer_note}")
    print(
        f"ours/floor = {summary.fraction_of_floor:.2f} (target >= {summary.target_fraction}), "
        f"CPU {cpu['ours']:.0f} us a message (target < {summary.target_cpu_us:.0f})"
        + (f", ours/peer = {summary.faster_than_peer:.2f} (target > 1)" if summary.faster_than_peer else "")
        + f": {'MET' if summary.target_met else 'NOT MET'}"
    )
    if summary.profile:
        profile = summary.profile
        print(
            f"\nWorkers' task code under cProfile (CPU time, {profile['messages']} messages; "
            f"{profile['cpu_us_per_message_profiled']:.0f} us a message with the profiler's overhead):"
        )
        for part, micros in profile["parts_us_per_message"].items():
            print(f"  {part:62} {micros:7.1f} us")
        print("  files by own CPU time (us a message):")
        for name, micros in list(profile["files_own_us_per_message"].items())[:12]:
            print(f"    {name:70} {micros:7.1f}")
        print("  top functions by own CPU time (us a message, own / cumulative):")
        for row in profile["top_own_time"][:15]:
            print(
                f"    {row['function'][:70]:70} {row['own_us_per_message']:7.1f} "
                f"{row['cumulative_us_per_message']:7.1f}  ({row['calls']} calls)"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peer_dir, peer_note = None, ""
    if args.skip_peer:
        peer_note = "left out (--skip-peer)"
    else:
        try:
            peer_dir = ensure_peer()
        except BenchError as exc:
            if not args.peer_optional:
                print(f"\nFAILED: {exc}", file=sys.stderr)
                return 1
            peer_note = f"left out: {exc}"
    return run_bounded(
        args,
        "campaign-send-",
        lambda scratch, prefix: measure(args, scratch, prefix, peer_dir, peer_note),
        report,
    )


if __name__ == "__main__":
    sys.exit(main())
