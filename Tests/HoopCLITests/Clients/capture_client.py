"""Statement values through the guard proxy for the ledger's capture (issue 16): psycopg with
server-side binding, parameters in text and in binary format. argv: email ssn card. The
connection comes from the PG* variables `hoopctl exec` sets."""
import sys

import psycopg

email, ssn, card = sys.argv[1:4]
with psycopg.connect("") as conn, conn.cursor() as cur:
    # Text-format parameters, bound by the server ($1, $2 in the Parse message).
    cur.execute("select id from customers where email = %s and id > %s", (email, 3))
    cur.fetchall()
    # The same with every parameter in binary format (types declared in Parse).
    cur.execute("select id from customers where ssn = %s or card_number = %s or id = %s", (ssn, card, 41), binary=True)
    cur.fetchall()
    # A prepared statement, executed twice with other values.
    for value in (email, "nobody@nowhere.example"):
        cur.execute("select count(*) from customers where email = %s and 7 < %s", (value, 8), prepare=True)
        cur.fetchall()
print("ok")
