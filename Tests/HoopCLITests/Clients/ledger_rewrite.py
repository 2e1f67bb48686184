"""What someone with write access to the ledger file can do (issue 16), with the append-only
triggers dropped and put back as they were, so the schema looks untouched.

  ledger_rewrite.py LEDGER truncate AFTER   deletes the records after id AFTER, rewrites chain_head
  ledger_rewrite.py LEDGER rehash ID OLD NEW  replaces OLD by NEW in record ID's body, then
                                              re-hashes the chain from there to its end
"""
import hashlib
import sqlite3
import sys


def record_hash(prev, rid, ts, kind, identity, target, session, body):
    def field(value):
        if value is None:
            return b"~\n"
        raw = value.encode()
        return str(len(raw)).encode() + b":" + raw + b"\n"
    data = b"hoopctl-ledger-v1\n" + prev.encode() + b"\n" + str(rid).encode() + b"\n" + str(ts).encode() + b"\n"
    data += field(kind) + field(identity) + field(target) + field(session) + field(body)
    return hashlib.sha256(data).hexdigest()


path, mode = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path, timeout=10, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
triggers = [row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'records'")]
for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'records'").fetchall():
    db.execute(f'DROP TRIGGER "{name}"')

if mode == "truncate":
    after = int(sys.argv[3])
    db.execute("DELETE FROM records WHERE id > ?", (after,))
    # The lineage index claims no more than the chain now holds.
    db.execute("UPDATE lineage_state SET through = min(through, ?)", (after,))
else:
    first, old, new = int(sys.argv[3]), sys.argv[4], sys.argv[5]
    rows = db.execute("SELECT id, ts, kind, identity, target, session, body, prev_hash FROM records WHERE id >= ? ORDER BY id",
                      (first,)).fetchall()
    prev = rows[0][7]
    for rid, ts, kind, identity, target, session, body, _ in rows:
        if rid == first:
            assert old in body, body
            body = body.replace(old, new)
        digest = record_hash(prev, rid, ts, kind, identity, target, session, body)
        db.execute("UPDATE records SET body = ?, prev_hash = ?, hash = ? WHERE id = ?", (body, prev, digest, rid))
        prev = digest

last = db.execute("SELECT id, hash FROM records ORDER BY id DESC LIMIT 1").fetchone()
db.execute("UPDATE chain_head SET id = ?, hash = ? WHERE one = 1", last)
for sql in triggers:
    db.execute(sql)
db.execute("COMMIT")
print(last[0])
