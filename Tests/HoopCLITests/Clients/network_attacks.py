"""Attacks on the network listeners, for TeamTests (raw sockets and ssl).

    network_attacks.py plaintext-after-ssl PORT      SSLRequest and a startup packet in one write
    network_attacks.py unauthenticated SOURCE PORT N N API requests without a token from SOURCE
    network_attacks.py handshakes SOURCE PORT SECONDS TLS handshakes from SOURCE as fast as they go
    network_attacks.py serial PORT CA                the serial of the certificate the API presents
    network_attacks.py refused SOURCE PORT           whether a connection from SOURCE is closed before TLS
    network_attacks.py keepalive-failures SOURCE PORT N  N requests with a bad token on one connection; how many answered
    network_attacks.py burst SOURCE PORT N           N connections that send bytes at once; how many were closed

Each prints one JSON line.
"""
import json
import socket
import ssl
import struct
import sys
import threading
import time


def connect(port, source=None, timeout=5):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None)
    return sock


def plaintext_after_ssl(port):
    sock = connect(port)
    ssl_request = struct.pack("!ii", 8, 80877103)
    params = b"user\x00x\x00database\x00shop\x00\x00"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    sock.sendall(ssl_request + startup)
    answer = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    print(json.dumps({"answer": answer[:1].decode("latin-1"), "text": answer.decode("latin-1", "replace")}))


def context(ca=None):
    ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    if not ca:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def unauthenticated(source, port, count):
    statuses = {}
    for _ in range(count):
        try:
            with connect(port, source) as raw, context().wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nHoopctl-Protocol: 1\r\nConnection: close\r\n\r\n")
                data = tls.recv(64)
                status = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "closed"
        except (OSError, ssl.SSLError):
            status = "refused"
        statuses[status] = statuses.get(status, 0) + 1
    print(json.dumps(statuses))


def handshakes(source, port, seconds):
    done = {"handshakes": 0, "refused": 0}
    stop = time.time() + seconds
    lock = threading.Lock()

    def worker():
        while time.time() < stop:
            try:
                with connect(port, source, timeout=2) as raw, context().wrap_socket(raw, server_hostname="localhost"):
                    with lock:
                        done["handshakes"] += 1
            except (OSError, ssl.SSLError):
                with lock:
                    done["refused"] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(done))


def keepalive_failures(source, port, count):
    """Requests with a made-up token on one kept-alive connection: how many are answered."""
    answered = 0
    try:
        with connect(port, source) as raw, context().wrap_socket(raw, server_hostname="localhost") as tls:
            reader = tls.makefile("rb")
            for _ in range(count):
                tls.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nHoopctl-Protocol: 1\r\nAuthorization: Bearer a.b.c\r\n\r\n")
                status = reader.readline()
                if not status:
                    break
                length = 0
                while True:
                    line = reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                answered += 1
    except (OSError, ssl.SSLError):
        pass
    print(json.dumps({"answered": answered}))


def serial(port, ca):
    with connect(port) as raw, context(ca).wrap_socket(raw, server_hostname="localhost") as tls:
        print(json.dumps({"serial": tls.getpeercert()["serialNumber"]}))


def burst(source, port, count):
    """Connections that send bytes at once (a ClientHello's worth) and wait for the answer."""
    closed = 0
    for _ in range(count):
        try:
            with connect(port, source, timeout=2) as sock:
                sock.sendall(b"\x16\x03\x01\x02\x00" + b"\x01" * 512)
                if sock.recv(1) == b"":
                    closed += 1
        except OSError:
            closed += 1
    print(json.dumps({"closed": closed}))


def refused(source, port):
    try:
        with connect(port, source) as raw, context().wrap_socket(raw, server_hostname="localhost"):
            print(json.dumps({"refused": False}))
    except (OSError, ssl.SSLError):
        print(json.dumps({"refused": True}))


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "plaintext-after-ssl":
        plaintext_after_ssl(int(rest[0]))
    elif command == "unauthenticated":
        unauthenticated(rest[0], int(rest[1]), int(rest[2]))
    elif command == "handshakes":
        handshakes(rest[0], int(rest[1]), float(rest[2]))
    elif command == "serial":
        serial(int(rest[0]), rest[1])
    elif command == "keepalive-failures":
        keepalive_failures(rest[0], int(rest[1]), int(rest[2]))
    elif command == "burst":
        burst(rest[0], int(rest[1]), int(rest[2]))
    elif command == "refused":
        refused(rest[0], int(rest[1]))
