"""The embedded default's broker (salloq/core/broker.py) with real files and real processes: a soak
with two worker processes and beat, unreadable message files, and consumers killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from salloq.core import broker

ROOT = Path(__file__).resolve().parents[2]


def _options(folder: Path) -> dict:
    queue = folder / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "unacked_folder": str(folder / "unacked"),
        "corrupt_folder": str(folder / "corrupt"),
        "control_folder": str(folder / "control"),
    }


def _connection(folder: Path) -> Connection:
    return Connection("filesystem://", transport=broker.Transport, transport_options=_options(folder))


def _publish(folder: Path, *bodies: str) -> None:
    with _connection(folder) as connection:
        producer = connection.Producer()
        for body in bodies:
            producer.publish(body, routing_key="jobs", declare=[Queue("jobs", Exchange("jobs"), "jobs")])


def test_soak_two_workers_and_beat_run_every_task_exactly_once(tmp_path):
    """Before: kombu's transport let a worker read a message file still being written; the worker
    died with "Unrecoverable error: JSONDecodeError" within a few thousand tasks."""
    results = tmp_path / "soak.json"
    command = [sys.executable, "bench/embedded_broker_soak.py", "--tasks", "6000", "--time-limit", "100"]
    finished = subprocess.run(
        [*command, "--results", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=160
    )
    result = json.loads(results.read_text())
    assert finished.returncode == 0, (result, finished.stderr[-3000:])
    assert (result["done"], result["missing"], result["duplicates"]) == (6000, 0, 0)
    assert result["exited"] == [] and result["unrecoverable"] == []
    assert result["beat_ticks"] > 0  # beat published through the same broker meanwhile


def test_an_unreadable_message_is_set_aside_and_the_next_one_delivered(tmp_path, caplog):
    _publish(tmp_path, "first")
    queue = tmp_path / "queue"
    # What a writer cut short leaves behind: an empty file and half a message, older than the grace.
    for name, content in [("00000000000000000001_a.jobs.msg", b""), ("00000000000000000002_b.jobs.msg", b'{"bo')]:
        (queue / name).write_bytes(content)
        old = time.time() - broker.CORRUPT_GRACE_SECONDS - 1
        os.utime(queue / name, (old, old))
    with _connection(tmp_path) as connection, connection.SimpleQueue("jobs") as jobs:
        message = jobs.get(timeout=5)
        assert message.payload == "first"
        message.ack()
    assert sorted(os.listdir(tmp_path / "corrupt")) == [
        "00000000000000000001_a.jobs.msg",
        "00000000000000000002_b.jobs.msg",
    ]
    assert "is unreadable" in caplog.text
    assert os.listdir(queue) == []


def test_a_young_unreadable_message_is_read_again_later(tmp_path):
    """A file that does not decode yet may still be written by a process running older code."""
    queue = tmp_path / "queue"
    _publish(tmp_path, "whole")
    (queue / "00000000000000000001_a.jobs.msg").write_bytes(b'{"body": ')
    with _connection(tmp_path) as connection, connection.SimpleQueue("jobs") as jobs:
        message = jobs.get(timeout=5)
        assert message.payload == "whole"
        message.ack()
    assert os.listdir(queue) == ["00000000000000000001_a.jobs.msg"]
    assert not (tmp_path / "corrupt").exists()


CONSUMER = """
import sys, time
from pathlib import Path
from tests.core.test_embedded_broker import _connection
with _connection(Path(sys.argv[1])) as connection, connection.SimpleQueue("jobs") as jobs:
    message = jobs.get(timeout=10)
    print(message.payload, flush=True)
    time.sleep(60)  # holds the message unacknowledged until it is killed
"""


def test_messages_of_a_consumer_killed_with_sigkill_are_delivered_again(tmp_path):
    """Before: a message was deleted when a worker took it, so a SIGKILL lost running tasks and every
    task waiting for its countdown."""
    _publish(tmp_path, "held by the victim")
    victim = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "salloq.settings"},
    )
    try:
        assert victim.stdout.readline().strip() == "held by the victim"
        assert os.listdir(tmp_path / "queue") == []
        with _connection(tmp_path) as connection, connection.SimpleQueue("jobs") as jobs:
            with pytest.raises(jobs.Empty):  # alive: its message stays its own
                jobs.get(timeout=0.5)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            connection.default_channel.recover_dead_consumers()
            message = jobs.get(timeout=5)
            assert message.payload == "held by the victim"
            message.ack()
    finally:
        victim.kill()
        victim.wait()
    assert os.listdir(tmp_path / "queue") == []
    assert os.listdir(tmp_path / "unacked") == []  # both consumers' folders are gone


def test_acknowledged_messages_leave_no_file_and_rejected_ones_come_back(tmp_path):
    _publish(tmp_path, "a", "b")
    with _connection(tmp_path) as connection, connection.SimpleQueue("jobs") as jobs:
        first = jobs.get(timeout=5)
        first.ack()
        second = jobs.get(timeout=5)
        second.requeue()
        again = jobs.get(timeout=5)
        assert (first.payload, second.payload, again.payload) == ("a", "b", "b")
        again.ack()
        with pytest.raises(jobs.Empty):
            jobs.get(timeout=0.3)
    assert os.listdir(tmp_path / "queue") == []
