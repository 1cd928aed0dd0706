"""The soak test's load and checks (driven by soak.sh, which starts Postgres and `exo serve`).

Mixed load from CLIENTS concurrent keep-alive clients for DURATION seconds, in phases:
warm-up, steady, outage (Postgres stopped, then restarted), recovery, pool exhausted on
purpose (heavy requests from more clients than the pool has connections), steady again.
Then it checks and prints: errors only while Postgres was down, every acknowledged write
present and no unacknowledged write half-applied, resident memory at the end within 10% of
the memory after warm-up, no leaked Postgres connections, latency percentiles per phase.
Exit status 1 when a check fails.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time

URL_HOST = "127.0.0.1"
PORT = int(os.environ["PORT"])
SECRET = os.environ["SECRET"]
DB_URL = os.environ["DB_URL"]
EXO_PID = int(os.environ["EXO_PID"])
DURATION = float(os.environ.get("DURATION", "600"))
CLIENTS = int(os.environ.get("CLIENTS", "200"))
POOL = int(os.environ.get("POOL", "10"))
USERS = int(os.environ.get("USERS", "10"))
PG_STOP = os.environ["PG_STOP"]
PG_START = os.environ["PG_START"]
# Requests that fail within this many seconds after Postgres is back count as outage errors:
# the pool notices dead connections on use.
GRACE = float(os.environ.get("GRACE", "3"))
# While the pool is to be exhausted, the table is locked for LOCK_SECONDS out of every
# LOCK_SECONDS + 2: every statement exo sends waits in Postgres, every pooled connection is
# taken, and new requests queue for one (below the statement timeout and the pool timeout).
LOCK_SECONDS = float(os.environ.get("LOCK_SECONDS", "3"))

# Phase boundaries as fractions of DURATION.
PHASES = [("warm-up", 0.10), ("steady", 0.25), ("outage", 0.10), ("recovery", 0.15), ("pool-exhausted", 0.15), ("steady-2", 0.25)]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = dict(claims, exp=int(time.time()) + 86400)
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


ADMIN = token({"sub": 1, "role": "admin"})
USER_TOKENS = {u: token({"sub": u}) for u in range(1, USERS + 1)}


def psql(sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", DB_URL, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def rss_kb():
    with open(f"/proc/{EXO_PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.start = time.monotonic()
        self.records = []  # (t, phase, kind, ok, latency_ms, detail)
        self.outage = None  # (stopped_at, started_at)
        self.created = {}  # todo title -> id (acknowledged creates)
        self.create_unacked = []  # titles sent without a clear answer
        self.deleted = []  # acknowledged deletes: (id)
        self.nested_users = {}  # email -> (acknowledged, [todo titles])
        self.nested_updates = []  # (acknowledged, [titles])
        self.samples = {}
        self.max_active = 0

    def now(self):
        return time.monotonic() - self.start

    def phase(self, t=None):
        t = self.now() if t is None else t
        acc = 0.0
        for name, frac in PHASES:
            acc += frac * DURATION
            if t < acc:
                return name
        return PHASES[-1][0]

    def phase_start(self, name):
        acc = 0.0
        for n, frac in PHASES:
            if n == name:
                return acc
            acc += frac * DURATION
        return DURATION


async def request(reader_writer, body, auth, raw_body=None, content_type="application/json"):
    """One POST on a keep-alive connection; returns (status, parsed JSON or None)."""
    reader, writer = reader_writer
    data = raw_body if raw_body is not None else json.dumps(body).encode()
    head = f"POST /graphql HTTP/1.1\r\nHost: soak\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
    if auth:
        head += f"Authorization: Bearer {auth}\r\n"
    # A large body goes as well-behaved clients (curl) send it: `Expect: 100-continue`, and the
    # body only after `100 Continue`, so a refusal (413) is read instead of a reset.
    expect = len(data) > 1024 * 1024
    if expect:
        writer.write(head.encode() + b"Expect: 100-continue\r\n\r\n")
    else:
        writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    if status == 100:
        await reader.readline()
        writer.write(data)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
    length = 0
    close = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v.strip())
        if k.lower() == "connection" and v.strip().lower() == "close":
            close = True
    payload = await reader.readexactly(length) if length else b""
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = None
    return status, parsed, close


def ok_data(status, body):
    return status == 200 and isinstance(body, dict) and "errors" not in body and "data" in body


async def client(stats, index, stop_at):
    rng = random.Random(index)
    conn = None
    seq = 0
    user = 1 + index % USERS
    while stats.now() < stop_at:
        seq += 1
        if conn is None:
            try:
                conn = await asyncio.open_connection(URL_HOST, PORT)
            except OSError as e:
                stats.records.append((stats.now(), stats.phase(), "connect", False, 0, str(e)))
                await asyncio.sleep(0.2)
                continue
        kind, body, auth, check, raw, ctype = pick(rng, stats, index, seq, user)
        t0 = stats.now()
        phase = stats.phase(t0)
        try:
            status, parsed, close = await asyncio.wait_for(request(conn, body, auth, raw, ctype), timeout=60)
            good, detail = check(status, parsed)
        except Exception as e:  # a dropped connection or a timeout: not acknowledged
            status, parsed, close, good, detail = 0, None, True, False, f"{type(e).__name__}: {e}"
            after_unacked(stats, kind, body)
        latency = (stats.now() - t0) * 1000
        stats.records.append((t0, phase, kind, good, latency, detail))
        # The server answers a body it will not read (413) and closes: so does the client.
        if close or kind in ("oversized", "invalid-json"):
            try:
                conn[1].close()
            except Exception:
                pass
            conn = None
        await asyncio.sleep(rng.uniform(0, 0.05))
    if conn:
        conn[1].close()


def after_unacked(stats, kind, body):
    if kind == "create":
        stats.create_unacked.append(body["variables"]["title"])


def pick(rng, stats, index, seq, user):
    """The next request: (kind, body, auth, check(status, body) -> (ok, detail), raw, content type)."""
    def expect_data(status, body):
        return (ok_data(status, body), "" if ok_data(status, body) else f"{status} {json.dumps(body)[:200]}")

    r = rng.random()
    tag = f"soak-{index}-{seq}"
    if r < 0.12:
        return "read-pk", {"query": "query($id: Int!) { todo(id: $id) { id title completed priority user { id } } }", "variables": {"id": rng.randint(1, 1000)}}, ADMIN, expect_data, None, "application/json"
    if r < 0.24:
        return "read-list", {"query": "{ todos(where: {completed: {eq: true}}, orderBy: {id: DESC}, limit: 20) { id title priority } }"}, USER_TOKENS[user], expect_data, None, "application/json"
    if r < 0.32:
        return "read-nested", {"query": "{ users(limit: 3) { id name todos(limit: 5, orderBy: {id: ASC}) { id title } } }"}, ADMIN, expect_data, None, "application/json"
    if r < 0.38:
        return "read-agg", {"query": "{ todosAgg { id { count } } usersAgg { id { count } } }"}, ADMIN, expect_data, None, "application/json"
    if r < 0.50:
        body = {"query": "mutation($title: String!) { createTodo(data: {title: $title, priority: HIGH}) { id title } }", "variables": {"title": tag}}

        def check(status, parsed, tag=tag):
            good = ok_data(status, parsed)
            if good:
                stats.created[tag] = parsed["data"]["createTodo"]["id"]
            else:
                stats.create_unacked.append(tag)
            return good, "" if good else f"{status} {json.dumps(parsed)[:200]}"
        return "create", body, USER_TOKENS[user], check, None, "application/json"
    if r < 0.56:
        email = f"{tag}@example.com"
        titles = [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
        q = "mutation($email: String!, $a: String!, $b: String!, $c: String!) { createUser(data: {email: $email, name: \"Soak\", todos: [{title: $a}, {title: $b}, {title: $c}]}) { id todos { id } } }"
        body = {"query": q, "variables": {"email": email, "a": titles[0], "b": titles[1], "c": titles[2]}}

        def check(status, parsed, email=email, titles=titles):
            good = ok_data(status, parsed) and len(parsed["data"]["createUser"]["todos"]) == 3
            stats.nested_users[email] = (good, titles)
            return good, "" if good else f"{status} {json.dumps(parsed)[:200]}"
        return "create-nested", body, ADMIN, check, None, "application/json"
    if r < 0.62:
        titles = [f"{tag}-x", f"{tag}-y"]
        q = "mutation($id: Int!, $x: String!, $y: String!) { updateUser(id: $id, data: {name: \"Updated\", todos: {create: [{title: $x}, {title: $y}]}}) { id } }"
        body = {"query": q, "variables": {"id": user, "x": titles[0], "y": titles[1]}}

        def check(status, parsed, titles=titles):
            good = ok_data(status, parsed) and parsed["data"]["updateUser"] is not None
            stats.nested_updates.append((good, titles))
            return good, "" if good else f"{status} {json.dumps(parsed)[:200]}"
        return "update-nested", body, USER_TOKENS[user], check, None, "application/json"
    if r < 0.67:
        # Delete one of this client's own acknowledged todos, if any.
        mine = [t for t in stats.created if t.startswith(f"soak-{index}-")]
        if mine:
            title = rng.choice(mine)
            tid = stats.created[title]
            body = {"query": "mutation($id: Int!) { deleteTodo(id: $id) { id } }", "variables": {"id": tid}}

            def check(status, parsed, title=title, tid=tid):
                good = ok_data(status, parsed) and parsed["data"]["deleteTodo"] is not None
                if good:
                    stats.created.pop(title, None)
                    stats.deleted.append(tid)
                return good, "" if good else f"{status} {json.dumps(parsed)[:200]}"
            return "delete", body, USER_TOKENS[user], check, None, "application/json"
        return "read-pk", {"query": "{ todo(id: 1) { id } }"}, ADMIN, expect_data, None, "application/json"
    if r < 0.74:
        # Invalid requests: each has its own expected answer.
        choice = rng.randrange(4)
        if choice == 0:
            return "invalid-json", None, ADMIN, lambda s, b: (s == 400, f"{s}"), b'{"query": ', "application/json"
        if choice == 1:
            return "invalid-field", {"query": "{ todos { nope } }"}, ADMIN, lambda s, b: (s == 200 and bool(b and b.get("errors")), f"{s}"), None, "application/json"
        if choice == 2:
            return "invalid-type", {"query": "{ todos { id } }"}, ADMIN, lambda s, b: (s == 415, f"{s}"), None, "text/plain"
        aliases = " ".join(f"a{i}: todos(limit: 1) {{ id }}" for i in range(100))
        return "too-many-fields", {"query": "{ " + aliases + " }"}, ADMIN, lambda s, b: (s == 200 and "EXO_MAX_ROOT_FIELDS" in json.dumps(b), f"{s}"), None, "application/json"
    if r < 0.78:
        big = json.dumps({"query": "{ todos { id } }", "variables": {"pad": "x" * (3 * 1024 * 1024)}}).encode()
        return "oversized", None, ADMIN, lambda s, b: (s == 413, f"{s}"), big, "application/json"
    # Unauthenticated: the todo model's rules compare with the caller's id, which an anonymous
    # caller does not have, so the answer is "Not authorized".
    anonymous_ok = lambda s, b: (s == 200 and b in ({"data": {"todos": []}}, {"errors": [{"message": "Not authorized"}]}), f"{s} {json.dumps(b)[:100]}")
    return "anonymous", {"query": "{ todos(limit: 5) { id } }"}, None, anonymous_ok, None, "application/json"


async def conductor(stats):
    """Stops and restarts Postgres; samples memory and active connections."""
    outage_at = stats.phase_start("outage")
    back_at = stats.phase_start("recovery")
    warm_end = stats.phase_start("steady")
    exhaust_start, exhaust_end = stats.phase_start("pool-exhausted"), stats.phase_start("steady-2")
    done_stop = done_start = done_warm = False
    locker = None
    while stats.now() < DURATION:
        t = stats.now()
        if not done_warm and t >= warm_end:
            stats.samples["rss_after_warmup_kb"] = rss_kb()
            done_warm = True
        if not done_stop and t >= outage_at:
            # The outage starts when the stop is asked for: requests from then on may fail.
            stats.outage = [stats.now(), None]
            await asyncio.to_thread(subprocess.run, PG_STOP, shell=True, check=True)
            done_stop = True
            print(f"[{stats.now():6.1f}s] Postgres stopped", file=sys.stderr)
        if not done_start and t >= back_at:
            await asyncio.to_thread(subprocess.run, PG_START, shell=True, check=True)
            stats.outage[1] = stats.now()
            done_start = True
            print(f"[{stats.now():6.1f}s] Postgres started", file=sys.stderr)
        if exhaust_start <= t < exhaust_end - LOCK_SECONDS and locker is None:
            locker = asyncio.create_task(lock_tables(stats, exhaust_end - LOCK_SECONDS))
        await asyncio.sleep(0.25)
    if locker:
        await locker


async def lock_tables(stats, until):
    """Holds an exclusive lock on `todos` again and again; meanwhile counts exo's connections
    that are waiting in Postgres (all of the pool, if it is exhausted)."""
    lock = f"BEGIN; LOCK TABLE todos IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({LOCK_SECONDS}); COMMIT;"
    while stats.now() < until:
        holder = asyncio.create_task(asyncio.to_thread(psql, lock))
        await asyncio.sleep(LOCK_SECONDS / 2)
        try:
            waiting = int(await asyncio.to_thread(psql, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'exo' AND wait_event_type = 'Lock'"))
            stats.max_active = max(stats.max_active, waiting)
        except Exception:
            pass
        await holder
        await asyncio.sleep(2)


def percentiles(values):
    if not values:
        return "-"
    v = sorted(values)
    pick = lambda p: v[min(len(v) - 1, int(p * len(v)))]
    return f"p50 {pick(0.5):7.1f}  p90 {pick(0.9):7.1f}  p99 {pick(0.99):7.1f}  max {v[-1]:7.1f}"


async def main():
    stats = Stats()
    tasks = [asyncio.create_task(client(stats, i, DURATION)) for i in range(CLIENTS)]
    # Twice the pool in heavy requests while the pool is to be exhausted.
    tasks.append(asyncio.create_task(conductor(stats)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(3)
    return stats


def report(stats):
    failed = []
    print(f"soak: {DURATION:.0f} s, {CLIENTS} clients, pool {POOL}; pool exhausted by {LOCK_SECONDS:.0f} s table locks")
    stopped, started = stats.outage
    print(f"Postgres down from {stopped:.1f} s to {started:.1f} s")

    # 1. Errors only while Postgres was down.
    # A request overlapping the outage (started before it and answered during it) counts in it.
    in_outage = lambda r: r[0] <= started + GRACE and r[0] + r[4] / 1000 >= stopped
    outside = [r for r in stats.records if not r[3] and not in_outage(r)]
    during = [r for r in stats.records if not r[3] and in_outage(r)]
    print(f"requests: {len(stats.records)}; failed while Postgres was down (+{GRACE:.0f} s): {len(during)}; failed otherwise: {len(outside)}")
    kinds = {}
    for r in outside:
        key = f"{r[2]}: {r[5][:120]}"
        n, first = kinds.get(key, (0, r[0]))
        kinds[key] = (n + 1, min(first, r[0]))
    for key, (n, first) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:12]:
        print(f"  unexpected failures ({n}x, first at {first:.1f} s) {key}")
    if outside:
        failed.append("errors outside the outage")

    # 2. Acknowledged writes present, unacknowledged ones all-or-nothing.
    rows = psql("SELECT title || '|' || id FROM todos WHERE title LIKE 'soak-%'")
    present = dict(line.split("|") for line in rows.splitlines() if line)
    missing = [t for t, i in stats.created.items() if present.get(t) != str(i)]
    deleted_back = psql("SELECT count(*) FROM todos WHERE id = ANY('{%s}'::int[])" % ",".join(map(str, stats.deleted))) if stats.deleted else "0"
    print(f"acknowledged creates: {len(stats.created)} live, {len(missing)} missing; acknowledged deletes: {len(stats.deleted)}, {deleted_back} still present")
    if missing or deleted_back != "0":
        failed.append("acknowledged writes lost")
    half = 0
    users = psql("SELECT u.email || '|' || count(t.id) FROM users u LEFT JOIN todos t ON t.user_id = u.id WHERE u.email LIKE 'soak-%' GROUP BY u.email")
    counts = dict(line.split("|") for line in users.splitlines() if line)
    acked_missing = 0
    for email, (acked, titles) in stats.nested_users.items():
        n = counts.get(email)
        if acked and n != "3":
            acked_missing += 1
        if n is not None and n != "3":
            half += 1
    for email, n in counts.items():
        if n != "3":
            half += 1 if email not in stats.nested_users else 0
    upd_titles = psql("SELECT title FROM todos WHERE title ~ '^soak-[0-9]+-[0-9]+-[xy]$'")
    have = set(upd_titles.splitlines())
    for acked, titles in stats.nested_updates:
        if acked and sum(t in have for t in titles) != 2:
            acked_missing += 1
    # Every nested update in the table, answered or not: both of its todos or neither.
    pairs = {}
    for t in have:
        pairs[t[:-2]] = pairs.get(t[:-2], 0) + 1
    half += sum(1 for n in pairs.values() if n != 2)
    print(f"nested creates: {len(stats.nested_users)} (each a user and 3 todos); nested updates: {len(stats.nested_updates)} (2 todos each); "
          f"acknowledged but incomplete: {acked_missing}; half-applied: {half}")
    if acked_missing or half:
        failed.append("nested writes incomplete or half-applied")

    # 3. Memory.
    warm = stats.samples.get("rss_after_warmup_kb", 0)
    end = rss_kb()
    growth = (end - warm) / warm * 100 if warm else 0
    print(f"exo RSS: {warm} kB after warm-up, {end} kB at the end ({growth:+.1f}%)")
    if warm and abs(growth) > 10:
        failed.append("memory not within 10% of warm-up")

    # 4. Connections.
    conns = psql("SELECT count(*) || ' ' || count(*) FILTER (WHERE state LIKE 'idle in transaction%') FROM pg_stat_activity WHERE application_name = 'exo'")
    total, in_tx = map(int, conns.split())
    print(f"Postgres connections from exo at the end: {total} (pool {POOL}), idle in transaction: {in_tx}; "
          f"most waiting on the lock at once: {stats.max_active}")
    if total > POOL or in_tx:
        failed.append("leaked connections")
    if stats.max_active < POOL:
        failed.append("the pool was never exhausted")

    # 5. Latency per phase (successful requests, ms).
    print("latency of successful requests (ms), per phase:")
    for name, _ in PHASES:
        lat = [r[4] for r in stats.records if r[1] == name and r[3]]
        n_all = sum(1 for r in stats.records if r[1] == name)
        n_bad = sum(1 for r in stats.records if r[1] == name and not r[3])
        print(f"  {name:15s} {n_all:6d} requests, {n_bad:5d} failed  {percentiles(lat)}")
    kinds = sorted({r[2] for r in stats.records})
    print("per kind: " + ", ".join(f"{k} {sum(1 for r in stats.records if r[2] == k)}" for k in kinds))
    print("checks: " + ("all passed" if not failed else "FAILED: " + "; ".join(failed)))
    return not failed


if __name__ == "__main__":
    stats = asyncio.run(main())
    sys.exit(0 if report(stats) else 1)
