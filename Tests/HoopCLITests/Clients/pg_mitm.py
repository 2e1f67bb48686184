"""A man in the middle between a PostgreSQL client and server, on loopback, for tests.

    pg_mitm.py LISTEN_PORT SERVER_PORT DIRECTORY

What it does to each new connection is read from DIRECTORY/mode when the connection comes:
  pass          relays bytes both ways, untouched (TLS end to end)
  self-signed   answers the SSLRequest itself and terminates TLS with DIRECTORY/selfsigned.crt
  wrong-host    the same with DIRECTORY/elsewhere.crt (signed by the test CA, for another host name)
  ip-only       the same with DIRECTORY/iponly.crt (signed by the test CA, for 127.0.0.1 and no host name)
  reencrypt     terminates TLS with DIRECTORY/selfsigned.crt and opens TLS of its own to the server
  strip         answers the SSLRequest with N (no TLS) and relays in clear
  cleartext     answers N, then asks for the password in clear (AuthenticationCleartextPassword)
A connection that starts without an SSLRequest is relayed in clear (but under cleartext).
Each connection adds one JSON line to DIRECTORY/log.jsonl: its mode, whether TLS was
negotiated with it, and any password it was given.
"""
import json
import os
import socket
import ssl
import struct
import sys
import threading

listen_port, server_port, directory = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
log_lock = threading.Lock()


def log(entry):
    with log_lock, open(os.path.join(directory, "log.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(client, first=b""):
    server = socket.create_connection(("127.0.0.1", server_port))
    if first:
        server.sendall(first)
    threading.Thread(target=pump, args=(server, client), daemon=True).start()
    pump(client, server)


def handle(client):
    mode = open(os.path.join(directory, "mode")).read().strip()
    entry = {"mode": mode, "tls": False}
    try:
        if mode == "pass":
            relay(client)
            return
        first = read_exactly(client, 8)
        if first != SSL_REQUEST:
            if mode == "cleartext":
                ask_password(client, first, entry)
            else:
                relay(client, first)
            return
        if mode in ("self-signed", "wrong-host", "ip-only", "reencrypt"):
            client.sendall(b"S")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            name = {"wrong-host": "elsewhere", "ip-only": "iponly"}.get(mode, "selfsigned")
            context.load_cert_chain(os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key"))
            try:
                client = context.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError) as error:
                entry["handshake"] = str(error)
                return
            entry["tls"] = True
            if mode == "reencrypt":
                server = socket.create_connection(("127.0.0.1", server_port))
                server.sendall(SSL_REQUEST)
                if read_exactly(server, 1) != b"S":
                    raise ConnectionError("the server has no TLS")
                upstream = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                upstream.check_hostname = False
                upstream.verify_mode = ssl.CERT_NONE
                server = upstream.wrap_socket(server)
                threading.Thread(target=pump, args=(server, client), daemon=True).start()
                pump(client, server)
            else:
                relay(client)
        elif mode == "strip":
            client.sendall(b"N")
            relay(client)
        elif mode == "cleartext":
            client.sendall(b"N")
            ask_password(client, b"", entry)
    except (ConnectionError, OSError) as error:
        entry["error"] = str(error)
    finally:
        log(entry)
        client.close()


def ask_password(client, first, entry):
    """Plays the server: takes the startup message, asks for the password in clear."""
    header = first or read_exactly(client, 4)
    (length,) = struct.unpack("!i", header[:4])
    read_exactly(client, length - len(header))
    entry["startup"] = True
    client.sendall(b"R" + struct.pack("!ii", 8, 3))
    kind = client.recv(1)
    if kind == b"p":
        (length,) = struct.unpack("!i", read_exactly(client, 4))
        entry["password"] = read_exactly(client, length - 4).rstrip(b"\0").decode(errors="replace")


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen_port))
listener.listen(64)
open(os.path.join(directory, "ready"), "w").close()
while True:
    connection, _ = listener.accept()
    threading.Thread(target=handle, args=(connection,), daemon=True).start()
