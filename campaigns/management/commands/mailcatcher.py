import signal
import threading

from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.mailcatcher import MAX_MESSAGE_BYTES, OutboxHandler


class Command(BaseCommand):
    help = (
        "Run the embedded mail catcher on EMAIL_HOST:EMAIL_PORT until interrupted: every message it "
        "receives is kept and shown on the dashboard's Outbox page. `bin/run` starts it when EMAIL_HOST is not set."
    )

    def handle(self, *args, **options):
        host, port = settings.EMAIL_HOST, settings.EMAIL_PORT
        handler = OutboxHandler()
        controller = Controller(handler, hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES)
        try:
            controller.start()
        except Exception as error:  # the port is taken, or the host is not one of this machine's
            handler.close()
            raise CommandError(f"The mail catcher cannot listen on {host}:{port}: {error}") from error
        self.stdout.write(f"Mail catcher listening on {host}:{port}")
        self.stdout.flush()
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        try:
            while not stopped.wait(1):
                pass
        finally:
            controller.stop()
            handler.close()
