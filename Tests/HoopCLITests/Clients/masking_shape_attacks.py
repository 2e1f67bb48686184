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

    # A card number where JSON holds a number, a record an int8: they must decode.
    card = "4535280542323534"
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(f"select '{{\"order\": {card}}}'::jsonb, '{{\"order\": {card}}}'::json, '{{\"note\": \"card {card}\"}}'::jsonb, "
                    f"json_build_object('n', notes), row({card}::int8, notes) "
                    f"from ({NOTES}) n limit 5")
        for row in cur.fetchall():
            for value in row:
                if isinstance(value, str):
                    json.loads(value)  # a json value comes back as text in some adapters
                print(f"shapes binary={binary}: {value!r}")
    print("shape attacks done")
