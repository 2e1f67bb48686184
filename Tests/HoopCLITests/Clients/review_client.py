"""Statement reviews through hoopctl's guard proxy, as bob's psycopg session sees them. Reviewers
(alice, carol) decide with hoopctl from here, so one session lives through every step. Prints a
JSON summary for the test to check against the database and the ledger."""
import json
import os
import re
import subprocess

import psycopg

hoopctl = os.environ["HOOPCTL_BIN"]
conn = psycopg.connect("", autocommit=True)
notices = []
conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
summary = {}


def as_person(token, *arguments):
    return subprocess.run([hoopctl, *arguments], env=dict(os.environ, HOOPCTL_TOKEN=token), capture_output=True, text=True)


def attempt(sql):
    try:
        return conn.execute(sql)
    except psycopg.Error as error:
        return error


def refused(sql):
    error = attempt(sql)
    assert isinstance(error, psycopg.Error) and error.sqlstate == "42501", (sql, error)
    return error


def request_of(error):
    return re.search(r"request ([0-9a-f]{12})", error.diag.message_primary).group(1)


# DDL: asked for, approved by alice (not by bob himself), run once as the tables' owner.
ddl = "create table public.review_scratch (id int primary key, note text)"
first = refused(ddl)
ddl_request = request_of(first)
assert f"hoopctl approve {ddl_request}" in first.diag.message_hint, first.diag.message_hint
assert request_of(refused(ddl)) == ddl_request, "the same text while pending is the same request"
summary["own_approval_status"] = as_person(os.environ["BOB"], "approve", ddl_request).returncode
approved = as_person(os.environ["ALICE"], "approve", ddl_request, "--comment", "table for the report")
assert approved.returncode == 0, approved.stderr
assert request_of(refused(ddl + " ")) != ddl_request, "another text is another request"
assert not isinstance(attempt(ddl), psycopg.Error)
assert any(f"ran as shop_owner after review {ddl_request}" in n for n in notices), notices
assert request_of(refused(ddl)) != ddl_request, "it ran once"
summary["ddl_request"] = ddl_request

# Reviewed DDL is refused inside a transaction block (it would not be part of it), and the
# approval stays usable outside.
alter = "alter table public.review_scratch add column extra int"
alter_request = request_of(refused(alter))
assert as_person(os.environ["CAROL"], "approve", alter_request).returncode == 0
try:
    with conn.transaction():
        conn.execute(alter)
    raise AssertionError("ran inside a transaction")
except psycopg.Error as error:
    assert error.sqlstate == "42501" and "outside a transaction block" in error.diag.message_primary, error
assert not isinstance(attempt(alter), psycopg.Error)

# A migration tool's way: DDL with the extended protocol (an unnamed statement, no parameters).
def extended(sql):
    pgconn = conn.pgconn
    pgconn.send_query_params(sql.encode(), None)
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    return results[-1]


index = "create index review_scratch_note on public.review_scratch (note)"
held = extended(index)
assert held.status == psycopg.pq.ExecStatus.FATAL_ERROR, held.status
message = held.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY).decode()
index_request = re.search(r"request ([0-9a-f]{12})", message).group(1)
assert as_person(os.environ["ALICE"], "approve", index_request).returncode == 0
ran = extended(index)
assert ran.status == psycopg.pq.ExecStatus.COMMAND_OK, ran.error_message
assert any(f"after review {index_request}: CREATE INDEX" in n for n in notices), notices
summary["index_request"] = index_request

# A write without WHERE: approved, it runs once in the session itself, with its privileges
# (and within max_rows_per_write: customers has 1,000 rows, the demo policy's limit).
update = "update customers set notes = notes"
update_request = request_of(refused(update))
assert as_person(os.environ["ALICE"], "approve", update_request).returncode == 0
try:
    with conn.transaction():
        summary["updated"] = conn.execute(update).rowcount
        raise psycopg.Rollback()
except psycopg.Error as error:
    raise AssertionError(f"the approved update failed: {error}")
assert request_of(refused(update)) != update_request, "it ran once"
summary["update_request"] = update_request

# Denied: the requester sees why, and it does not run.
drop = "drop table public.review_scratch"
drop_request = request_of(refused(drop))
assert as_person(os.environ["CAROL"], "deny", drop_request, "--reason", "keep it for now").returncode == 0
denied = refused(drop)
assert f"request {drop_request} was denied: keep it for now" in denied.diag.message_primary, denied.diag.message_primary
summary["drop_request"] = drop_request
# A statement with a literal under review: the webhook hears of it without the literal.
summary["literal_request"] = request_of(refused("delete from customers where email = 'ann.secret@example.com'"))
print(json.dumps(summary))
