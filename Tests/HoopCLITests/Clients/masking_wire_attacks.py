"""Issue 14's wire attacks on in-flight masking, as a client that skips Describe, resumes
portals, interleaves statements, asks for binary results and reads notifications would make
them. psycopg logs in (PG* variables from `hoopctl exec`), then its socket speaks raw protocol.
Prints every value it got back (the test searches the output for real values) and, per attack,
how many values came back (so an attack that got nothing cannot pass for a defended one)."""
import os
import socket
import struct
import sys

import psycopg

NOTES = "select notes from customers where notes like '%@%' or notes like '%card%' or notes like '%555-%' order by id limit 40"


def message(kind, body=b""):
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(text):
    return text.encode() + b"\0"


def parse(name, sql):
    return message(b"P", cstr(name) + cstr(sql) + struct.pack("!h", 0))


def bind(portal, statement, result_formats=()):
    body = cstr(portal) + cstr(statement) + struct.pack("!hh", 0, 0)
    body += struct.pack("!h", len(result_formats)) + b"".join(struct.pack("!h", f) for f in result_formats)
    return message(b"B", body)


def execute(portal, rows=0):
    return message(b"E", cstr(portal) + struct.pack("!i", rows))


def describe(kind, name):
    return message(b"D", kind + cstr(name))


SYNC = message(b"S")


def query(sql):
    return message(b"Q", cstr(sql))


class Wire:
    def __init__(self):
        self.conn = psycopg.connect("", autocommit=True)
        self.sock = socket.socket(fileno=os.dup(self.conn.pgconn.socket))
        self.sock.setblocking(True)
        self.sock.settimeout(30)
        self.buffer = b""

    def read(self):
        while True:
            if len(self.buffer) >= 5:
                kind = self.buffer[:1]
                length = struct.unpack("!i", self.buffer[1:5])[0]
                if len(self.buffer) >= length + 1:
                    body = self.buffer[5:length + 1]
                    self.buffer = self.buffer[length + 1:]
                    return kind, body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("the proxy closed the connection")
            self.buffer += chunk

    def until_ready(self):
        """Every message up to ReadyForQuery."""
        messages = []
        while True:
            kind, body = self.read()
            messages.append((kind, body))
            if kind == b"Z":
                return messages

    def send(self, *parts):
        self.sock.sendall(b"".join(parts))


def fields(body):
    count = struct.unpack("!h", body[:2])[0]
    values, at = [], 2
    for _ in range(count):
        length = struct.unpack("!i", body[at:at + 4])[0]
        at += 4
        if length < 0:
            values.append(None)
            continue
        values.append(body[at:at + length])
        at += length
    assert at == len(body), "a DataRow whose lengths do not add up"
    return values


def check_binary_array(value):
    """A binary array's inner lengths must add up: a corrupted one does not."""
    ndim, _, _ = struct.unpack("!iii", value[:12])
    at, total = 12, 1
    for _ in range(ndim):
        size, _ = struct.unpack("!ii", value[at:at + 8])
        total *= size
        at += 8
    for _ in range(total):
        length = struct.unpack("!i", value[at:at + 4])[0]
        at += 4 + max(length, 0)
    assert at == len(value), "a binary array whose inner lengths do not add up"


def check_binary_record(value):
    count = struct.unpack("!i", value[:4])[0]
    at = 4
    for _ in range(count):
        _, length = struct.unpack("!Ii", value[at:at + 8])
        at += 8 + max(length, 0)
    assert at == len(value), "a binary record whose inner lengths do not add up"


def report(attack, messages, checks=()):
    values = 0
    for kind, body in messages:
        if kind == b"D":
            for index, value in enumerate(fields(body)):
                if value is None:
                    print(f"{attack}: NULL")
                    continue
                values += 1
                if index < len(checks) and checks[index]:
                    checks[index](value)
                print(f"{attack}: {value.decode('utf-8', 'replace')}")
        elif kind in (b"A", b"S", b"V", b"E", b"N", b"d"):
            values += 1
            print(f"{attack} {kind.decode()}: {body.decode('utf-8', 'replace')}")
    print(f"=== {attack} values={values}")


def attack_skipped_describe():
    """A zero-column result, then Parse/Bind/Execute with no Describe."""
    wire = Wire()
    wire.send(query("select from customers limit 1"))
    wire.until_ready()
    wire.send(parse("", NOTES), bind("", ""), execute(""), SYNC)
    report("skipped-describe", wire.until_ready())


def attack_resumed_portal():
    """A named portal fetched one row at a time, another query in between, then the rest with no Describe."""
    wire = Wire()
    wire.send(query("begin"))
    wire.until_ready()
    wire.send(parse("s1", NOTES), bind("p1", "s1"), describe(b"P", "p1"), execute("p1", 1), SYNC)
    first = wire.until_ready()
    wire.send(query("select 1 as one"))
    middle = wire.until_ready()
    wire.send(execute("p1", 0), SYNC)
    rest = wire.until_ready()
    wire.send(query("commit"))
    wire.until_ready()
    report("resumed-portal", first + middle + rest)


def attack_statement_describe_then_binary():
    """Describe of the statement (formats unknown then), Bind asking for binary, Execute."""
    wire = Wire()
    sql = ("select notes, array[notes, notes], row(notes, id), notes::bytea, to_tsvector('simple', notes), "
           "array[row(notes)] from (" + NOTES + ") n, lateral (select 1 as id) i")
    wire.send(parse("s2", sql), describe(b"S", "s2"), bind("", "s2", (1,)), execute(""), SYNC)
    report("binary", wire.until_ready(), checks=(None, check_binary_array, check_binary_record, None, None, check_binary_array))


def attack_text_shapes():
    """Anonymous records, arrays, tsvector and xml in text format, in one simple query."""
    wire = Wire()
    wire.send(query("select row(notes), array[notes], to_tsvector('simple', notes), xmlelement(name n, notes), "
                    "notes::bytea, 1 from (" + NOTES + ") n"))
    report("text-shapes", wire.until_ready())


def attack_notifications_and_settings():
    wire = Wire()
    wire.send(query("listen leak"))
    wire.until_ready()
    wire.send(query("select pg_notify('leak', notes) from (" + NOTES + ") n"))
    notified = wire.until_ready()
    wire.send(query("select set_config('application_name', notes, false) is not null from (" + NOTES + ") n limit 1"))
    setting = wire.until_ready()
    report("notify", [m for m in notified if m[0] == b"A"])
    report("parameter-status", [m for m in setting if m[0] == b"S"])


def attack_function_call():
    """FunctionCall by oid: query_to_xml over the notes."""
    wire = Wire()
    wire.send(query("select 'query_to_xml(text,boolean,boolean,text)'::regprocedure::oid"))
    oid = int(fields([m for m in wire.until_ready() if m[0] == b"D"][0][1])[0])
    arguments = [NOTES.encode(), b"\x01", b"\x00", b""]
    body = struct.pack("!I", oid) + struct.pack("!hh", 1, 1) + struct.pack("!h", len(arguments))
    body += b"".join(struct.pack("!i", len(a)) + a for a in arguments) + struct.pack("!h", 0)
    wire.send(message(b"F", body))
    report("function-call", wire.until_ready())


def attack_psycopg_binary():
    conn = psycopg.connect("", autocommit=True)
    cur = conn.cursor(binary=True)
    cur.execute("select notes, array[notes, notes], array[array[notes]], row(notes, 1), array[row(notes)], "
                "array[email, phone, ssn, card_number], row(email, card_number) "
                "from customers where id in (select id from (" + NOTES.replace("select notes", "select id, notes") + ") n)")
    values = 0
    for row in cur.fetchall():
        for value in row:
            values += 1
            print(f"psycopg-binary: {value!r}")
    print(f"=== psycopg-binary values={values}")


for attack in sys.argv[1:] or [name for name in dict(globals()) if name.startswith("attack_")]:
    globals()[attack if attack.startswith("attack_") else "attack_" + attack]()
print("attacks done")
