"""psycopg 3 through hoopctl's guard proxy: server-side binding, prepared statements, COPY
both ways, a named (server-side) cursor, LISTEN/NOTIFY and a cancelled query. The connection
comes from the PG* variables `hoopctl exec` sets."""
import threading
import time

import psycopg

conn = psycopg.connect("")
with conn.cursor() as cur:
    cur.execute("select email from customers where id = %s", (5,))
    email = cur.fetchone()[0]
    assert "***@" in email, email
    for i in range(8):  # prepare=True: the statement is prepared once, then only executed
        cur.execute("select id from customers where id = %s", (i + 1,), prepare=True)
        assert cur.fetchone()[0] == i + 1
    with cur.copy("copy (select id, email from customers order by id limit 5) to stdout") as copy:
        rows = list(copy.rows())
    assert len(rows) == 5 and all("***@" in row[1] for row in rows), rows
    marker = f"psycopg {time.time()}"
    with cur.copy("copy loadtest.load_test (v, note) from stdin") as copy:
        for i in range(100):
            copy.write_row((i, marker))
    cur.execute("select count(*) from load_test where note = %s", (marker,))
    assert cur.fetchone()[0] == 100
conn.commit()

with conn.cursor(name="big") as cur:
    cur.execute("select id from orders order by id")
    seen = 0
    while batch := cur.fetchmany(100):
        seen += len(batch)
    assert seen > 1000, seen
conn.commit()

listener = psycopg.connect("", autocommit=True)
listener.execute("listen hoop_test")
talker = psycopg.connect("", autocommit=True)
talker.execute("notify hoop_test, 'hello'")
# add_notify_handler works from psycopg 3.0 (Debian has 3.1); notifies(timeout=) needs 3.2.
notes = []
listener.add_notify_handler(notes.append)
deadline = time.time() + 5
while not notes and time.time() < deadline:
    listener.execute("select 1")  # any round trip delivers what has arrived
    time.sleep(0.05)
assert [n.payload for n in notes] == ["hello"], notes

sleeper = psycopg.connect("")
threading.Thread(target=lambda: (time.sleep(0.5), sleeper.cancel())).start()
started = time.time()
try:
    # A query that runs for minutes (pg_sleep is denied by the demo policy's guardrails).
    sleeper.execute("select count(*) from generate_series(1, 100000) a, generate_series(1, 100000) b")
    raise SystemExit("the query was not cancelled")
except psycopg.errors.QueryCanceled:
    assert time.time() - started < 10
print("psycopg ok")
