#!/usr/bin/env python3
"""Sends the hostile-request list to two servers and requires identical answers.

    hostile.py LIST SECRET NATIVE_PORT WORKER_PORT

LIST is integration/tests/it/hostile-requests.json (its `about` says how entries read); both
servers serve the todo example with the list's settings, on one database, with user 1 in it.
Each side gets the whole list in order after the todos are emptied (through the native
server), so both start from the same rows. For every request the status, the body and the
headers the edge decides (content type, Allow, Vary, CORS) must be byte-identical between the
sides, and each side must meet the list's expectation. Raw sockets, so every byte is ours
(repeated headers, no Content-Type, HEAD). Exit status 1 on any difference.
"""

import base64
import hashlib
import hmac
import json
import socket
import sys
import threading
import time

COMPARED = [
    "content-type", "allow", "vary", "access-control-allow-origin", "access-control-allow-credentials",
    "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age",
]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims, secret, exp_offset):
    claims = dict(claims, exp=int(time.time()) + exp_offset)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def fill(text, secret):
    admin = {"sub": 1, "role": "admin"}
    return (text.replace("{ADMIN}", token(admin, secret, 3600))
                .replace("{EXPIRED}", token(admin, secret, -3600))
                .replace("{FORGED}", token(admin, "another-secret", 3600)))


def body_of(entry):
    if "json" in entry:
        return json.dumps(entry["json"], separators=(",", ":")).encode()
    if "body_hex" in entry:
        return bytes.fromhex(entry["body_hex"])
    body = entry.get("body", "")
    if "body_size" in entry:
        body = body.replace("{PAD}", "x" * (entry["body_size"] - (len(body) - len("{PAD}"))))
    return body.encode()


def chunked(body):
    out = b""
    for i in range(0, len(body), 64 * 1024):
        piece = body[i:i + 64 * 1024]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def send(port, method, path, headers, body, chunks=False):
    """One request on its own connection; the body is written while the answer is read, so a
    server that answers before reading everything (413) cannot deadlock us."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if chunks:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        body = chunked(body)
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=60)

    def write():
        try:
            s.sendall(head.encode() + body)
        except OSError:
            pass  # the server answered and closed before taking the whole body
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if complete(data, method):
                break
    except ConnectionResetError:
        if not data:
            raise
    finally:
        s.close()
    return parse(data, method)


def split(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    return status, headers, data[end + 4:]


def complete(data, method):
    parts = split(data)
    if parts is None:
        return False
    status, headers, rest = parts
    if method == "HEAD" or status in (204, 304):
        return True
    length = [int(v) for k, v in headers if k == "content-length"]
    if length:
        return len(rest) >= length[0]
    return False  # chunked or close-delimited: read to the end


def dechunk(body):
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    return out


def parse(data, method):
    parts = split(data)
    if parts is None:
        raise RuntimeError(f"no HTTP answer: {data[:200]!r}")
    status, headers, body = parts
    if method == "HEAD" or status in (204, 304):
        body = b""
    elif any(k == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = dechunk(body)
    else:
        length = [int(v) for k, v in headers if k == "content-length"]
        if length:
            body = body[:length[0]]
    return status, headers, body


def shown(status, headers, body):
    """What must match between the sides: status, the edge's headers (all values, in order),
    and the body."""
    lines = [f"status {status}"]
    for name in COMPARED:
        for k, v in headers:
            if k == name:
                lines.append(f"{k}: {v}")
    lines.append(body.decode("utf-8", "replace"))
    return "\n".join(lines)


def meets(entry, status, headers, body):
    expect = entry["expect"]
    problems = []
    if status != expect["status"]:
        problems.append(f"status {status} (expected {expect['status']})")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
        if body:
            problems.append("the body is not JSON")
    if "json" in expect and parsed != expect["json"]:
        problems.append(f"body {body[:300]!r} (expected {json.dumps(expect['json'])})")
    if "error" in expect:
        message = ((parsed or {}).get("errors") or [{}])[0].get("message", "") if isinstance(parsed, dict) else ""
        if expect["error"] not in message or "data" in (parsed or {}):
            problems.append(f"body {body[:300]!r} (expected an error containing {expect['error']!r})")
    for name, value in expect.get("headers", {}).items():
        got = next((v for k, v in headers if k == name), None)
        if got != value:
            problems.append(f"header {name} is {got!r} (expected {value!r})")
    return problems


def run(listing, secret, port):
    answers = []
    for entry in listing["requests"]:
        headers = [(k, fill(v, secret)) for k, v in entry["headers"]]
        answers.append(send(port, entry["method"], entry["path"], headers, body_of(entry), entry.get("chunked", False)))
    return answers


def reset(secret, native_port):
    cookie = f"token={fill('{ADMIN}', secret)}"
    body = json.dumps({"query": "mutation { deleteTodos { id } }"}).encode()
    status, _, answer = send(native_port, "POST", "/graphql",
                             [("Content-Type", "application/json"), ("Cookie", cookie)], body)
    if status != 200 or b'"errors"' in answer:
        raise RuntimeError(f"could not empty the todos: {status} {answer[:300]!r}")


def main():
    path, secret, native_port, worker_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path) as f:
        listing = json.load(f)
    sides = {}
    for side, port in (("native", native_port), ("worker", worker_port)):
        reset(secret, native_port)
        sides[side] = run(listing, secret, port)
    failures = 0
    for i, entry in enumerate(listing["requests"]):
        native, worker = shown(*sides["native"][i]), shown(*sides["worker"][i])
        problems = []
        if native != worker:
            problems.append(f"native and Worker differ:\n--- native\n{native[:1500]}\n--- Worker\n{worker[:1500]}")
        for side in ("native", "worker"):
            problems += [f"{side}: {p}" for p in meets(entry, *sides[side][i])]
        if problems:
            failures += 1
            print(f"hostile: {entry['name']}:\n  " + "\n  ".join(problems), file=sys.stderr)
    total = len(listing["requests"])
    print(f"hostile: {total - failures} of {total} requests answered identically and as listed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
