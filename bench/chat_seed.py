#!/usr/bin/env python3
"""Seeds the chat benchmark's message corpus straight into vitrine's SQLite file (the
server must be stopped): sending a million messages over HTTP would take hours.

Rows are written as the server writes a send (src/chat/messages.rs `send_message`): a
`messages` row with the chat's next seq, a `message.created` event in `chat_events` under
the same seq, one `message_search_token` row per distinct word (src/chat/search.rs
`index`, words by chat_corpus.tokens = src/words.rs), and the chat's `last_seq`,
`last_message_id` and `updated_at`. Columns this script does not know are copied from the
chat's last message and event, which were sent over HTTP: the chat set-up sends one
message to each corpus chat first.

Checks, failing loudly: every probe message (texts from the same generator, sent over HTTP
by chat_client.py setup) has exactly the search tokens chat_corpus.tokens computes; and the
expected answers to chat_corpus.QUERIES (the newest results and the count) are written to
--expect for chat_client.py to compare with what the server finds.

  python3 chat_seed.py --db DATA/vitrine.db --state state.json --expect expect.json
"""
import argparse
import json
import re
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone

import chat_corpus

KEEP_NEWEST = 21


def columns(db, table):
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def one_dict(db, sql, args):
    cur = db.execute(sql, args)
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row))


def time_format(sample):
    """A formatter for timestamps written like `sample` (the driver's own text format)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)([ T])(\d\d:\d\d:\d\d)(\.(\d+))?(.*)", sample)
    if not m:
        raise SystemExit(f"unknown timestamp format in the database: {sample!r}")
    sep, frac, tz = m.group(2), len(m.group(5) or ""), m.group(6)

    def fmt(dt):
        s = dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        if frac:
            s += "." + f"{dt.microsecond:06d}{'0' * max(0, frac - 6)}"[:frac]
        return s + tz
    return fmt


def verify_probes(db, probe_chat):
    rows = db.execute("SELECT id, text FROM messages WHERE chat_id = ? ORDER BY seq", (probe_chat,)).fetchall()
    if len(rows) < 50:
        raise SystemExit(f"only {len(rows)} probe messages in chat {probe_chat}")
    gen = chat_corpus.Generator(seed=7)
    bad = 0
    for message_id, text in rows:
        expected_text = gen.text()
        stored = {t for (t,) in db.execute(
            "SELECT token FROM message_search_token WHERE message_id = ?", (message_id,))}
        mine = set(chat_corpus.tokens(text))
        if text != expected_text or stored != mine:
            bad += 1
            if bad <= 5:
                print(f"probe {message_id}: text {text!r} (sent {expected_text!r}); server tokens "
                      f"{sorted(stored)} vs seeder {sorted(mine)}", file=sys.stderr)
    if bad:
        raise SystemExit(f"{bad} of {len(rows)} probe messages disagree with the seeder's tokens")
    return len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--expect", required=True)
    a = ap.parse_args()
    state = json.load(open(a.state))
    corpus = state["corpus"]  # [{"chat_id", "count", "members": [user ids]}]

    db = sqlite3.connect(a.db, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB
    db.execute("PRAGMA temp_store = MEMORY")

    probes = verify_probes(db, state["probe_chat"])
    print(f"seed: {probes} probe messages sent over HTTP have the tokens the seeder computes",
          file=sys.stderr)

    msg_cols = columns(db, "messages")
    ev_cols = columns(db, "chat_events")
    tok_cols = columns(db, "message_search_token")
    if set(tok_cols) != {"token", "message_id", "chat_id"}:
        raise SystemExit(f"message_search_token has columns {tok_cols}: update chat_seed.py")

    gen = chat_corpus.Generator()
    queries = [(label, q, chat_corpus.query_words(q)) for label, q in chat_corpus.QUERIES]
    # per query word, every token the generator can produce that starts with it (digits never do)
    vocabulary = {t for w in gen.vocab for t in chat_corpus.tokens(w)} | {
        t for w, _ in chat_corpus.PLANTED for t in chat_corpus.tokens(w)}
    word_sets = {w: {t for t in vocabulary if t.startswith(w)} for _, _, ws in queries for w in ws}
    found = {label: {"count": 0, "newest": []} for label, _, _ in queries}

    db.execute("BEGIN")
    db.execute("CREATE TEMP TABLE seed_tokens (token TEXT, message_id INTEGER, chat_id INTEGER)")
    next_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM messages").fetchone()[0]
    t0 = time.time()
    total = 0
    for spec in corpus:
        chat_id, count, members = spec["chat_id"], spec["count"], spec["members"]
        chat = one_dict(db, "SELECT * FROM chats WHERE id = ?", (chat_id,))
        tmpl_msg = one_dict(db, "SELECT * FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT 1", (chat_id,))
        if tmpl_msg is None:
            raise SystemExit(f"chat {chat_id} has no message sent over HTTP to copy from")
        tmpl_ev = one_dict(db, "SELECT * FROM chat_events WHERE chat_id = ? AND message_id = ?",
                           (chat_id, tmpl_msg["id"]))
        fmt = time_format(tmpl_msg["sent_at"])
        seq = chat["last_seq"]
        # spread the messages over the hour before the template message
        start = datetime.now(timezone.utc) - timedelta(hours=1)
        step = timedelta(seconds=3600 / max(count, 1))
        msg_rows, ev_rows, tok_rows = [], [], []

        def flush():
            for table, cols, rows in (("messages", msg_cols, msg_rows), ("chat_events", ev_cols, ev_rows)):
                if rows:
                    db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                   f"({', '.join('?' * len(cols))})", rows)
                    rows.clear()
            if tok_rows:
                db.executemany("INSERT INTO seed_tokens VALUES (?, ?, ?)", tok_rows)
                tok_rows.clear()

        for i in range(count):
            seq += 1
            text = gen.text()
            chat_corpus.check_alphabet(text)
            sender = members[i % len(members)]
            at = fmt(start + step * i)
            msg = dict(tmpl_msg, id=next_id, chat_id=chat_id, seq=seq, sender_id=sender, client_id=None,
                       text=text, reply_to_id=None, sent_at=at, edited_at=None, deleted_at=None)
            msg_rows.append([msg[c] for c in msg_cols])
            ev = dict(tmpl_ev, chat_id=chat_id, seq=seq, kind="message.created", message_id=next_id,
                      actor_id=sender, subject_id=None, at=at)
            ev_rows.append([ev[c] for c in ev_cols])
            toks = set(chat_corpus.tokens(text))
            tok_rows.extend((t, next_id, chat_id) for t in toks)
            for label, _, words in queries:
                if all(not toks.isdisjoint(word_sets[w]) for w in words):
                    f = found[label]
                    f["count"] += 1
                    f["newest"].append(next_id)
                    if len(f["newest"]) > 2 * KEEP_NEWEST:
                        del f["newest"][:KEEP_NEWEST]
            next_id += 1
            if len(msg_rows) >= 20000:
                flush()
        flush()
        now = fmt(datetime.now(timezone.utc))
        db.execute("UPDATE chats SET last_seq = ?, last_message_id = ?, updated_at = ? WHERE id = ?",
                   (seq, next_id - 1, now, chat_id))
        # both members have read everything, as after reading the chat
        db.execute("UPDATE chat_participants SET read_seq = ?, delivered_seq = ? WHERE chat_id = ?",
                   (seq, seq, chat_id))
        total += count
        print(f"seed: chat {chat_id}: {count} messages (seq up to {seq}), {total} in all, "
              f"{time.time() - t0:.0f} s", file=sys.stderr)
    t1 = time.time()
    db.execute("INSERT INTO message_search_token (token, message_id, chat_id) "
               "SELECT token, message_id, chat_id FROM seed_tokens ORDER BY token, message_id")
    n_tokens = db.execute("SELECT COUNT(*) FROM seed_tokens").fetchone()[0]
    db.execute("DROP TABLE seed_tokens")
    db.execute("COMMIT")
    print(f"seed: {n_tokens} search tokens in {time.time() - t1:.0f} s", file=sys.stderr)
    # no ANALYZE: the server never runs one, so its query plans stay those of a grown database
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    expect = {"messages": total, "tokens": n_tokens, "seconds": round(time.time() - t0, 1), "queries": [
        {"label": label, "q": q, "count": found[label]["count"],
         "newest": sorted(found[label]["newest"], reverse=True)[:KEEP_NEWEST - 1]}
        for label, q, _ in queries]}
    json.dump(expect, open(a.expect, "w"), indent=1, ensure_ascii=False)
    for e in expect["queries"]:
        print(f"seed: query {e['q']!r}: {e['count']} matching messages", file=sys.stderr)


if __name__ == "__main__":
    main()
