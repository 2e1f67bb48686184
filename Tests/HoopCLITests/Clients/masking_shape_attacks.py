"""Round-9 red-team attacks on in-flight masking: COPY options that escape or double the
characters the detectors look for (then undone by the client's COPY reader), and values whose
syntax an in-place rewrite would break (a card number as a JSON number, in a record). Prints what
came back; the test searches it for real values."""
import csv
import io
import json

import psycopg

NOTES = "select notes from customers where notes ~ '@|[0-9]{3}' order by id limit 40"

with psycopg.connect("", autocommit=True) as conn:
    # COPY with a delimiter, quote, escape or encoding of the client's choosing: refused.
    for options in ("delimiter '@'", "delimiter ' '", "format csv, quote ' '", "format csv, quote '@'", "format csv, escape '!'",
                    "encoding 'LATIN1'", "format binary"):
        try:
            with conn.cursor() as cur, cur.copy(f"copy ({NOTES}) to stdout with ({options})") as copy:
                data = b"".join(bytes(chunk) for chunk in copy)
            print(f"copy {options}: ran")
            for row in csv.reader(io.StringIO(data.decode("utf-8", "replace")), delimiter="\t"):
                print(f"copy {options} row: {row}")
        except psycopg.Error as error:
            print(f"copy {options}: refused: {error}".replace("\n", " "))
    # The defaults still work, masked.
    with conn.cursor() as cur, cur.copy(f"copy ({NOTES}) to stdout with (format csv)") as copy:
        rows = list(csv.reader(io.StringIO(b"".join(bytes(c) for c in copy).decode())))
    print(f"copy csv: {len(rows)} rows: {rows[:3]}")

    # Round 10: a value with a newline or tab before a card, phone or address, which COPY text and
    # JSON write as an escape sequence (`\n4111...`): the client decodes it back.
    escaped = ("select replace(replace(replace(notes, 'card ', E'card\\n'), 'line ', E'line\\t'), 'to ', E'to\\r') "
               "from customers where notes ~ '@|[0-9]{3}' order by id limit 40")
    with conn.cursor() as cur, cur.copy(f"copy ({escaped}) to stdout") as copy:
        copy.set_types(["text"])
        for row in copy.rows():
            print(f"copy escaped row: {row[0]!r}")
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(f"select to_json(n.e), json_build_array(n.e, chr(1) || n.e), to_jsonb(n.e) from ({escaped}) as n(e)")
        for row in cur.fetchall():
            for value in row:  # psycopg decodes the JSON: invalid JSON would raise here
                print(f"json escaped binary={binary}: {value!r}")

    # Round 11: JSON inside COPY text (each JSON escape's backslash escaped again), JSON inside
    # arrays and records, and a literal backslash before a card in plain text.
    # A newline (or \x01, or a backslash) right before each card, phone and address.
    def before_values(glue):
        return f"replace(replace(replace(notes, 'card ', 'card' || {glue}), 'line ', 'line' || {glue}), 'to ', 'to' || {glue})"
    newlines, controls, backslashes = before_values("chr(10)"), before_values("chr(1)"), before_values("'\\'")
    layered = f"select to_json({newlines}), json_build_array({controls}) from ({NOTES}) n"
    with conn.cursor() as cur, cur.copy(f"copy ({layered}) to stdout") as copy:
        copy.set_types(["text", "text"])
        for row in copy.rows():
            for value in row:
                print(f"copy json row: {json.loads(value)!r}")  # the client undoes both layers
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(f"select array[to_json({newlines})], row(to_json({controls}))::text, {backslashes}, "
                    f"array[{backslashes}] from ({NOTES}) n")
        for row in cur.fetchall():
            for value in row:
                print(f"layered binary={binary}: {value!r}")

    # A card number where JSON holds a number, a record an int8: they must decode.
    card = "4535280542323534"
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(f"select '{{\"order\": {card}}}'::jsonb, '{{\"order\": {card}}}'::json, '{{\"note\": \"card {card}\"}}'::jsonb, "
                    f"json_build_object('n', notes), row({card}::int8, notes) "
                    f"from ({NOTES}) n limit 5")
        for row in cur.fetchall():
            for value in row:  # psycopg decodes json and records: a corrupt value would raise
                print(f"shapes binary={binary}: {value!r}")
    print("shape attacks done")
