"""Sending a pass of JSON bodies to a bulk endpoint from several client threads at once.

Each bench judges its own answers (`count`): how many items of the answer it counts, or a
BenchError saying what was wrong with it; the first problem stops every client."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import httpx

from bench.api_root import BenchError


def post_concurrently(
    url: str, headers: dict[str, str], bodies: list[bytes], clients: int, count: Callable[[dict], int]
) -> tuple[float, int]:
    """POST every body (each once) with `clients` threads: items counted per second over the whole
    pass, and the items counted. A non-200 answer or a BenchError from `count` fails the pass."""
    work: queue.Queue[bytes] = queue.Queue()
    for body in bodies:
        work.put(body)
    failures: list[str] = []
    counted = [0]
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(headers={**headers, "Content-Type": "application/json"}, timeout=120) as http:
            while not failures:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                response = http.post(url, content=body)
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:500]}")
                    return
                try:
                    items = count(response.json())
                except BenchError as exc:
                    failures.append(str(exc))
                    return
                with lock:
                    counted[0] += items

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise BenchError(f"POST {url} failed: {failures[0]}")
    return counted[0] / elapsed, counted[0]


def post_all_with_status(url: str, headers: dict[str, str], bodies: list[bytes], clients: int, expected: str) -> float:
    """POST every body of a batch endpoint that answers one result per item and the count of each
    status (the contacts bulk upsert, the product batch): items per second over the pass. An answer
    where not every item is `expected` ("created", "updated") fails the pass."""

    def count(answer: dict) -> int:
        if answer[expected] != len(answer["results"]):
            bad = [result for result in answer["results"] if result["status"] != expected][:3]
            raise BenchError(f"expected every item {expected}, got {bad}")
        return answer[expected]

    return post_concurrently(url, headers, bodies, clients, count)[0]
