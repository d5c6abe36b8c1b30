"""The embedded default's Celery broker: kombu's filesystem transport, made safe for several
processes (web, workers, beat) on one machine. Settings register it for ``filesystem://``.

kombu's own filesystem transport fails under real use:

- it writes a message in place, so a worker can claim a file that is still empty or half
  written; the JSONDecodeError is an "Unrecoverable error" and the worker exits;
- it deletes a message as soon as a worker takes it, so a worker killed with SIGKILL loses every
  task it held: running ones, and those waiting for their countdown (retries with backoff);
- every read lists and sorts the whole queue folder, so draining n messages costs n² names;
- it moves taken messages to the system temp folder; on another filesystem that is a copy and a
  delete, and two workers can both get the same message.

Here a message is written to a dot-named file beside its final name and renamed into place
(atomic on POSIX), so readers only ever see whole files. A consumer claims a message by renaming
it into its own folder under ``unacked/`` (of two consumers, exactly one rename succeeds) and
deletes it when the task is acknowledged. Each consumer holds an flock on its folder's lock file
while it lives; the kernel drops it when the process dies, however it dies, and any consumer that
finds an unlocked folder moves its messages back to the queue: they run again, as with Redis's
visibility timeout, but after seconds rather than an hour. A file that still cannot be decoded
(a disk that filled up, a power loss) is moved to ``corrupt/`` and logged; it never stops a worker.

bench/README.md ("embedded_broker_soak.py") has the measurements against the alternatives.
"""

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

# A file that does not decode may be one that a process running older code is still writing in
# place: leave it this long before calling it corrupt.
CORRUPT_GRACE_SECONDS = 10.0
# How often a consumer looks for the folders of dead consumers (it also looks when it starts).
RECOVER_INTERVAL_SECONDS = 15.0

# Lock files held by this process. A forked child (a Celery pool process) closes its copies, so
# that the lock goes away when the consumer that took it dies, not when its last child does.
_held_locks: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in _held_locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a dot-named temporary file in the same folder, then rename it to `path`."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.rename(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._listed: dict[str, deque[str]] = {}
        self._claimed: dict[str, Path] = {}  # delivery tag -> the claimed file
        self._no_ack_queues: set[str] = set()
        self._owner: str | None = None
        self._owner_lock: int | None = None
        self._recovered_at = 0.0

    # --- folders --------------------------------------------------------------------------------

    @cached_property
    def queue_folder(self) -> Path:
        return Path(self.data_folder_in)

    @cached_property
    def unacked_folder(self) -> Path:
        return Path(self.transport_options.get("unacked_folder") or self.queue_folder.parent / "unacked")

    @cached_property
    def corrupt_folder(self) -> Path:
        return Path(self.transport_options.get("corrupt_folder") or self.queue_folder.parent / "corrupt")

    def _claim_folder(self) -> Path:
        """This consumer's folder of claimed messages, created and locked on first use."""
        if self._owner is None:
            self.unacked_folder.mkdir(parents=True, exist_ok=True)
            owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
            # Locked before it gets its name, so no other consumer ever sees it unlocked.
            temporary = self.unacked_folder / f".{owner}.lock.tmp"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(temporary, self.unacked_folder / f"{owner}.lock")
            (self.unacked_folder / owner).mkdir()
            _held_locks.add(fd)
            self._owner, self._owner_lock = owner, fd
        return self.unacked_folder / self._owner

    # --- publishing -----------------------------------------------------------------------------

    def _put(self, queue, payload, **kwargs):
        # Nanoseconds since the epoch, zero-padded: names sort in the order they were sent.
        name = f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg"
        try:
            write_atomically(Path(self.data_folder_out) / name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add a message to {self.data_folder_out}: {exc}") from exc

    # --- consuming ------------------------------------------------------------------------------

    def _get(self, queue):
        if time.monotonic() - self._recovered_at > RECOVER_INTERVAL_SECONDS:
            self._recovered_at = time.monotonic()
            self.recover_dead_consumers()
        names = self._listed.get(queue)
        if not names:
            # One listing serves many reads: names another consumer took first fail to rename.
            # Names are "<time>_<uuid>.<queue>.msg"; the dot-named files being written never match.
            wanted = f"{queue}.msg"
            names = deque(sorted(n for n in os.listdir(self.queue_folder) if n.partition(".")[2] == wanted))
            self._listed[queue] = names
        claim_folder = self._claim_folder()
        while names:
            name = names.popleft()
            claimed = claim_folder / name
            try:
                os.rename(self.queue_folder / name, claimed)
            except FileNotFoundError:
                continue  # another consumer took it
            payload = self._read(claimed)
            if payload is None:
                continue
            tag = payload["properties"].get("delivery_tag")
            if queue in self._no_ack_queues or tag is None:
                claimed.unlink(missing_ok=True)
            else:
                self._claimed[tag] = claimed
            return payload
        raise Empty()

    def _read(self, claimed: Path) -> dict | None:
        """The claimed message, or None when it cannot be decoded (then it is put back or set aside)."""
        try:
            payload = loads(bytes_to_str(claimed.read_bytes()))
            if isinstance(payload, dict) and isinstance(payload.get("properties"), dict):
                return payload
            problem = "not a kombu message"
        except (ValueError, UnicodeDecodeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        try:
            age = time.time() - claimed.stat().st_mtime
        except FileNotFoundError:
            return None
        if age < CORRUPT_GRACE_SECONDS:
            os.rename(claimed, self.queue_folder / claimed.name)  # read again on a later poll
            return None
        self.corrupt_folder.mkdir(parents=True, exist_ok=True)
        os.rename(claimed, self.corrupt_folder / claimed.name)
        logger.error("Broker message %s is unreadable (%s); moved it to %s", claimed.name, problem, self.corrupt_folder)
        return None

    def _forget(self, delivery_tag) -> None:
        claimed = self._claimed.pop(delivery_tag, None)
        if claimed is not None:
            claimed.unlink(missing_ok=True)

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._forget(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple=multiple)
        self._forget(delivery_tag)
        self.connection.prefetch_freed.set()

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue=requeue)
        self._forget(delivery_tag)
        self.connection.prefetch_freed.set()

    def _restore(self, message):
        # Requeued (rejected, or unacknowledged at shutdown): the new copy replaces the claimed file.
        super()._restore(message)
        self._forget(message.delivery_tag)

    def close(self):
        super().close()  # requeues unacknowledged messages through _restore
        if self._owner is not None:
            folder = self.unacked_folder / self._owner
            self._requeue_folder(folder)  # anything left: better twice than never
            self._release(self._owner, self._owner_lock)
            self._owner = self._owner_lock = None

    # --- recovering the messages of dead consumers ----------------------------------------------

    def recover_dead_consumers(self) -> int:
        """Move the messages claimed by consumers that died back to the queue; returns how many."""
        try:
            entries = os.listdir(self.unacked_folder)
        except FileNotFoundError:
            return 0
        owners = {name.removesuffix(".lock") for name in entries if not name.startswith(".")}
        recovered = 0
        for owner in owners - {self._owner}:
            lock_path = self.unacked_folder / f"{owner}.lock"
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = None  # a folder whose lock is gone: its recovery was cut short
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    os.close(fd)
                    if exc.errno in (errno.EAGAIN, errno.EACCES):
                        continue  # alive
                    raise
            count = self._requeue_folder(self.unacked_folder / owner)
            if count:
                logger.warning("Requeued %s message(s) held by consumer %s, which died", count, owner)
            recovered += count
            self._release(owner, fd)
        return recovered

    def _requeue_folder(self, folder: Path) -> int:
        count = 0
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return 0
        for name in names:
            try:
                os.rename(folder / name, self.queue_folder / name)
                count += 1
            except FileNotFoundError:
                pass
        return count

    def _release(self, owner: str, fd: int | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.unacked_folder / owner).rmdir()
        (self.unacked_folder / f"{owner}.lock").unlink(missing_ok=True)
        if fd is not None:
            _held_locks.discard(fd)
            os.close(fd)

    # --- exchange tables (bindings), read by every publish ----------------------------------------

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(bytes_to_str(file.read_bytes()))
        except FileNotFoundError:
            return []
        except ValueError:
            logger.error("Broker exchange table %s is unreadable; it is rebuilt as queues bind again", file)
            return []
        return [filesystem.exchange_queue_t(*row) for row in table]

    def _update_table(self, exchange, change) -> None:
        """Read, change and atomically replace an exchange table under an exclusive lock."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(file.with_name(f".{file.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            rows = self.get_table(exchange)
            changed = change(rows)
            if changed is not None:
                write_atomically(file, str_to_bytes(dumps(changed)))

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda rows: None if row in rows else [row, *rows])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # The virtual channel's own bookkeeping, then this file format's (not kombu's in-place edit).
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        row = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda rows: [r for r in rows if r != row] if row in rows else None)


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        # Set by every acknowledgement (Celery's pool acknowledges from another thread).
        self.prefetch_freed = threading.Event()

    def drain_events(self, connection, timeout=None):
        """kombu's polling loop, except that a wait also ends when a task is acknowledged. A worker
        whose prefetch is full (2 messages for 2 pool processes) would otherwise sleep a whole
        polling interval after each pair of tasks, however many wait in the queue."""
        started = time.monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None  # socket.timeout, which callers catch
                self.prefetch_freed.wait(interval)
                self.prefetch_freed.clear()
