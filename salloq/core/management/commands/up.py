import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from salloq.core.demo import ensure_demo
from salloq.core.models import Company
from salloq.demo_data import seed_demo_data

WILDCARD_HOSTS = {"", "0.0.0.0", "::"}  # noqa: S104 (recognised, not bound to)


def reachable_host(host: str) -> str:
    """Where other machines reach a server bound to `host`. For a wildcard bind: the address of the
    interface the default route leaves through (connecting a UDP socket sends nothing), or loopback
    on a machine without a route."""
    if host not in WILDCARD_HOSTS:
        return host
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, only looked up
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def public_url(host: str, port: int) -> str:
    name = reachable_host(host)
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def child_environment(host: str, port: int) -> dict[str, str]:
    """The children's environment. Unless set: SITE_URL (links in emails) is where this server
    listens, and that address is an allowed Host, so the links work from other machines too."""
    env = dict(os.environ)
    url = public_url(host, port)
    env.setdefault("SITE_URL", url)
    if "ALLOWED_HOSTS" not in os.environ:
        name = url.removeprefix("http://").rsplit(":", 1)[0]
        env["ALLOWED_HOSTS"] = ",".join(dict.fromkeys([*settings.ALLOWED_HOSTS, name]))
    return env


class Supervisor:
    """Runs the children until stopped. A child that dies is started again, at once the first time
    and then after a pause that doubles up to a minute while it keeps dying within a minute of its
    start; it never takes the others down with it."""

    HEALTHY_AFTER = 60.0
    MAX_DELAY = 60.0

    def __init__(self, commands: dict[str, list[str]], *, env: dict[str, str], out):
        self.commands = commands
        self.env = env
        self.out = out
        self.stopping = False
        self.children: dict[str, subprocess.Popen | None] = {}
        self.started_at: dict[str, float] = {}
        self.due: dict[str, float] = {}
        self.restarts = dict.fromkeys(commands, 0)
        self.quick_deaths = dict.fromkeys(commands, 0)

    def start(self, name: str) -> None:
        # A session of its own: Ctrl-C reaches only this process, which stops the children itself,
        # and what a dead worker leaves behind (its pool processes) is killed with its group.
        self.children[name] = subprocess.Popen(
            self.commands[name], cwd=settings.BASE_DIR, env=self.env, start_new_session=True
        )
        self.started_at[name] = time.monotonic()

    def run(self) -> None:
        for name in self.commands:
            self.start(name)
        try:
            while not self.stopping:
                now = time.monotonic()
                for name, child in self.children.items():
                    if child is None:
                        if now >= self.due[name]:
                            self.start(name)
                    elif child.poll() is not None:
                        self._schedule_restart(name, child, now)
                time.sleep(0.2)
        finally:
            self.stop_all()

    def _schedule_restart(self, name: str, child: subprocess.Popen, now: float) -> None:
        self._kill_group(child)
        if now - self.started_at[name] >= self.HEALTHY_AFTER:
            self.quick_deaths[name] = 0
        delay = min(self.MAX_DELAY, 2.0 ** (self.quick_deaths[name] - 1)) if self.quick_deaths[name] else 0.0
        self.quick_deaths[name] += 1
        self.restarts[name] += 1
        line = f"{name} exited with code {child.returncode}; restarting it (restart {self.restarts[name]})"
        self.out.write(f"{line} in {delay:.0f}s" if delay else line)
        self.out.flush()
        self.children[name] = None
        self.due[name] = now + delay

    def stop_all(self) -> None:
        running = [child for child in self.children.values() if child is not None and child.poll() is None]
        for child in running:
            child.terminate()
        deadline = time.monotonic() + 15
        for child in running:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for child in self.children.values():
            if child is not None:
                self._kill_group(child)

    @staticmethod
    def _kill_group(child: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


class Command(BaseCommand):
    help = (
        "Run the whole product in one command: apply migrations, create the demo company, "
        "then run the web server (gunicorn), a Celery worker and Celery beat until interrupted "
        "(and the mail catcher when EMAIL_HOST is not set)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo company and login")

    def handle(self, *args, host, port, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is migrated.")
        if not no_demo:
            demo = ensure_demo()
            if seed_demo_data(Company.objects.get(pk=demo["company_id"])):
                self.stdout.write("Demo data written: contacts, lists, segments, products, orders and events.")
            self._print_banner(public_url(host, port), demo)
        if settings.MAIL_CATCHER:
            self.stdout.write(
                f"Mail catcher on {settings.EMAIL_HOST}:{settings.EMAIL_PORT} — sent mail shows under Outbox"
            )
            self.stdout.flush()
        env = child_environment(host, port)
        supervisor = Supervisor(self._commands(host, port), env=env, out=self.stderr)

        def stop(signum, frame):
            supervisor.stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.run()

    def _commands(self, host: str, port: int) -> dict[str, list[str]]:
        python = sys.executable
        # One gunicorn process with threads: the embedded default's in-process cache
        # (rate-limit counters) is then shared by every request. Use Redis for more.
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "salloq.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                os.environ.get("WEB_WORKERS", "1"),
                "--threads",
                "8",
                # gunicorn's longest request line (8190; default 4094): a query of several
                # percent-encoded non-Latin values fits, where the default answered an HTML 414.
                "--limit-request-line",
                "8190",
                "--access-logfile",
                "-",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "salloq",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "2"),
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                "worker@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "salloq",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        }
        if settings.MAIL_CATCHER:
            # No EMAIL_HOST: mail goes to this catcher (campaigns.mailcatcher) and shows under Outbox.
            commands["mailcatcher"] = [python, "manage.py", "mailcatcher"]
        return commands

    def _print_banner(self, base_url: str, demo: dict) -> None:
        lines = [
            "",
            "Salloq Marketing is starting.",
            f"  Dashboard:   {base_url}/   (login: {demo['username']} / {demo['password']})",
            f"  Admin:       {base_url}/admin/",
            f"  API docs:    {base_url}/api/docs/",
            f"  API key:     {demo['api_key']}",
            f"  Company ID:  {demo['company_id']}",
            f"  Try it:      curl -H 'Authorization: Bearer {demo['api_key']}' "
            f"-H 'X-Company-ID: {demo['company_id']}' {base_url}/api/",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
