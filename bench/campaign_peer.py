"""The campaign send bench's peer: django-post-office queueing and sending the campaign's messages.

Run by bench/campaign_send.py in a process of its own, with DJANGO_SETTINGS_MODULE=bench.post_office_settings,
django-post-office on PYTHONPATH (installed outside the tree), DATABASE_URL on the peer's own
database and EMAIL_HOST/EMAIL_PORT on the bench's SMTP sink:

    campaign_peer.py --migrate                      # post_office's tables, once
    campaign_peer.py --contacts N --campaign FILE   # one measured pass; prints one JSON line

A pass empties post_office's tables, then, on the clock: one EmailTemplate with the campaign's
subject, HTML and text (the same Django-template personalization: contact.*, company.name),
`mail.send_many` in chunks of 1000 (each message rendered from the template with its contact's
context when queued, the library's default) and `send_queued_mail_until_done(processes=2)`, the
`send_queued_mail --processes 2` command's loop. It reports wall time, CPU time of this process and
its forked sending processes, and checks that every message is marked sent.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUEUE_CHUNK = 1000


def contact_context(n: int, company_name: str) -> dict:
    # The same contacts as the bench seeds (bench/campaign_send.py SEED_CONTACTS_SQL).
    return {
        "contact": {
            "email": f"bench.contact{n}@example.com",
            "first_name": f"First{n % 997}",
            "last_name": f"Last{n % 991}",
        },
        "company": {"name": company_name},
    }


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_pass(contacts: int, campaign: dict, processes: int) -> dict:
    from django.db import connection
    from post_office import mail
    from post_office.models import STATUS, Email, EmailTemplate

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE post_office_log, post_office_email, post_office_emailtemplate CASCADE")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    template = EmailTemplate.objects.create(
        name=f"bench-{time.time_ns()}",
        subject=campaign["subject"],
        content=campaign["text"],
        html_content=campaign["html"],
    )
    for first in range(0, contacts, QUEUE_CHUNK):
        mail.send_many(
            [
                {
                    "recipients": [f"bench.contact{n}@example.com"],
                    "sender": campaign["sender"],
                    "template": template,
                    "context": contact_context(n, campaign["company"]),
                }
                for n in range(first, min(first + QUEUE_CHUNK, contacts))
            ]
        )
    queued = time.perf_counter()
    mail.send_queued_mail_until_done(lockfile=os.environ["BENCH_POST_OFFICE_LOCK"], processes=processes)
    finished, cpu_finished = time.perf_counter(), cpu_seconds()
    sent = Email.objects.filter(status=STATUS.sent).count()
    return {
        "seconds": finished - started,
        "queue_seconds": queued - started,
        "send_seconds": finished - queued,
        "cpu_seconds": cpu_finished - cpu_started,
        "sent": sent,
        "not_sent": Email.objects.exclude(status=STATUS.sent).count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migrate", action="store_true")
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--campaign", type=Path, help="JSON: subject, html, text, sender, company")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    import django

    django.setup()
    if args.migrate:
        from django.core.management import call_command

        call_command("migrate", "post_office", verbosity=0)
        return 0
    result = one_pass(args.contacts, json.loads(args.campaign.read_text()), args.processes)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
