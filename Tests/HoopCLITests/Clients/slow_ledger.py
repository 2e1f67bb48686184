"""Run by SlowLedgerTests inside `hoopctl exec` against a broker whose every ledger commit
takes 50 ms longer. Prints one JSON line of timings:

- copy_alone / copy_busy: seconds for a COPY out of many rows, alone and while four other
  connections send statements (each waiting for its own commit);
- busy_min: the shortest statement of those four (at least the delay: the hook is on);
- cancel: seconds from a cancel to the end of a long count while the four keep going.
"""
import json
import threading
import time

import psycopg

ROWS = 50_000
COPY = f"COPY (SELECT g, repeat('x', 40) FROM generate_series(1, {ROWS}) g) TO STDOUT"


def copy_out():
    with psycopg.connect(autocommit=True) as conn:
        conn.execute("select 1")  # logged in and settled before the clock starts
        start = time.monotonic()
        received = 0
        with conn.cursor().copy(COPY) as copy:
            for chunk in copy:
                received += len(chunk)
        assert received > ROWS * 40, received
        return time.monotonic() - start


stop = threading.Event()
latencies = []


def busy():
    with psycopg.connect(autocommit=True) as conn:
        while not stop.is_set():
            start = time.monotonic()
            conn.execute("select 1").fetchall()
            latencies.append(time.monotonic() - start)


def cancelled_sleep():
    with psycopg.connect(autocommit=True) as conn:
        conn.execute("select 1")
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        start = time.monotonic()
        try:
            conn.execute("select count(*) from generate_series(1, 500000000)")
        except psycopg.errors.QueryCanceled:
            pass
        return time.monotonic() - start - 0.5


alone = copy_out()
threads = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
for thread in threads:
    thread.start()
try:
    time.sleep(0.5)
    busy_copy = copy_out()
    cancel = cancelled_sleep()
finally:
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
print(json.dumps({"copy_alone": alone, "copy_busy": busy_copy, "busy_min": min(latencies),
                  "busy_count": len(latencies), "cancel": cancel}))
