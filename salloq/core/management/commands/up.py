import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from salloq.core.demo import ensure_demo


class Command(BaseCommand):
    help = (
        "Run the whole product in one command: apply migrations, create the demo company, "
        "then run the web server (gunicorn), a Celery worker and Celery beat until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo company and login")

    def handle(self, *args, host, port, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is migrated.")
        base_url = f"http://{host}:{port}"
        if not no_demo:
            demo = ensure_demo()
            self._print_banner(base_url, demo)

        python = sys.executable
        # One gunicorn process with threads: the embedded default's in-process cache
        # (rate-limit counters) is then shared by every request. Use Redis for more.
        processes = {
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
        children = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in processes.items()}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping the others.")
                        exit_code = 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        sys.exit(exit_code)

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
