"""The state's schema, as a frozen history: `MIGRATIONS[n]` brings version n to n+1.

The version is SQLite's user_version. A release that needs a change appends a step and never edits one:
a state written by any earlier release is brought up to date step by step (jobs.state.db).
"""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE ledgers (
        ledger_id TEXT PRIMARY KEY,
        start_date TEXT NOT NULL,      -- first ledger date catch-up exports
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        withdrawn_at TEXT              -- set while the keys cannot read it
    );
    CREATE TABLE dates (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('exported', 'open', 'unavailable', 'abandoned')),
        pending_since TEXT,            -- when a run first found it open or unavailable
        tries INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        rows INTEGER,
        sums TEXT,                     -- JSON {entryType: sum of amounts in minor units}
        files TEXT,                    -- JSON [{"path": ..., "sha256": ...}]
        updated_at TEXT NOT NULL,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date)
    );
    CREATE TABLE feeds (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        cursor TEXT,
        next_batch INTEGER NOT NULL DEFAULT 1,
        entries INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (ledger_id, topic)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,                  -- ok, nothing to do, pending, failed, interrupted; NULL: killed
        exit_code INTEGER,
        counts TEXT,                   -- JSON
        error TEXT
    );
    """,
    # 2: no date is given up any more. An 'abandoned' date goes back to the queue as what it was
    # (the detail says "still open after ..." or "still unavailable after ..."), and each pending
    # date remembers the day it was last tried, so an overdue one is retried once a day.
    """
    CREATE TABLE dates_v2 (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('exported', 'open', 'unavailable')),
        pending_since TEXT,            -- when a run first found it open or unavailable
        last_try TEXT,                 -- the run's own date (YYYY-MM-DD) when it last asked the API
        tries INTEGER NOT NULL DEFAULT 0,
        detail TEXT,
        rows INTEGER,
        sums TEXT,                     -- JSON {entryType: sum of amounts in minor units}
        files TEXT,                    -- JSON [{"path": ..., "sha256": ...}]
        updated_at TEXT NOT NULL,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date)
    );
    INSERT INTO dates_v2 (ledger_id, topic, ledger_date, status, pending_since, last_try, tries, detail, rows,
                          sums, files, updated_at, run_id)
        SELECT ledger_id, topic, ledger_date,
               CASE WHEN status != 'abandoned' THEN status
                    WHEN detail LIKE 'still unavailable%' THEN 'unavailable' ELSE 'open' END,
               pending_since, NULL, tries, detail, rows, sums, files, updated_at, run_id
        FROM dates;
    DROP TABLE dates;
    ALTER TABLE dates_v2 RENAME TO dates;
    """,
    # 3: the web page. Who started a run and what it covered and wrote; a date's failed checks; the
    # page's users (scrypt/argon2 hashes only), failed sign-ins for throttling, and what each user did.
    """
    ALTER TABLE runs ADD COLUMN user TEXT;          -- the web user, or the account a command ran as
    ALTER TABLE runs ADD COLUMN request TEXT;       -- JSON: period, ledgers, topics, formats, ...
    ALTER TABLE runs ADD COLUMN files TEXT;         -- JSON: the report files the run wrote
    ALTER TABLE dates ADD COLUMN checks_failed INTEGER;
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        changed_at TEXT NOT NULL
    );
    CREATE TABLE signin_failures (
        at REAL NOT NULL,                          -- seconds on the web server's clock
        user TEXT NOT NULL,
        address TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        action TEXT NOT NULL,                      -- export, download, sign-in, sign-out
        run_id INTEGER,
        detail TEXT
    );
    CREATE TABLE web (
        key TEXT PRIMARY KEY,                      -- session_secret: signs the page's cookies
        value TEXT NOT NULL
    );
    """,
    # 4: notifications (jobs/notify.py). What has been told and on which day, so that a lasting condition
    # is told once a day and not every hour; and the outbox, where a notice waits until its channel took it.
    """
    CREATE TABLE notify_conditions (
        key TEXT PRIMARY KEY,                      -- e.g. overdue 302321 funds 2026-10-02, withdrawn 5551234
        since TEXT NOT NULL,                       -- the run's date (YYYY-MM-DD) when it was first seen
        told TEXT NOT NULL                         -- the run's date of the last notice that named it
    );
    CREATE TABLE notify_outbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,                     -- email or webhook
        run_id INTEGER,
        created_at TEXT NOT NULL,
        notice TEXT NOT NULL,                      -- JSON, as the webhook posts it; the mail is made from it
        tries INTEGER NOT NULL DEFAULT 0,
        tried_at TEXT,
        error TEXT                                 -- why the last try failed; never a secret
    );
    """,
    # 5: the page's sessions are kept here, so the server can end them (sign-out, a new password, a removed
    # user, a new signing key); every sign-in, failed or not, for whoever administers the page and for
    # throttling; each ledger's description as last seen, for the page while the API cannot be reached;
    # and the dates each run left open or unavailable (a page export records no dates in the catch-up).
    """
    CREATE TABLE web_sessions (
        id TEXT PRIMARY KEY,                       -- SHA-256 of the cookie's session id, never the id itself
        user TEXT NOT NULL,
        created_at REAL NOT NULL,                  -- seconds on the web server's clock
        seen_at REAL NOT NULL,
        address TEXT NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions (user);
    DROP TABLE signin_failures;
    CREATE TABLE signins (
        at REAL NOT NULL,                          -- seconds on the web server's clock
        user TEXT NOT NULL,                        -- the name as compared: normalised and case-folded
        address TEXT NOT NULL,
        ok INTEGER NOT NULL,
        counted INTEGER NOT NULL DEFAULT 1         -- a failure still counted for throttling
    );
    CREATE INDEX signins_at ON signins (at);
    CREATE TABLE ledger_names (
        ledger_id TEXT PRIMARY KEY,
        description TEXT NOT NULL,                 -- JSON: owner, currency, salesUnits, payoutAccount
        seen_at TEXT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN left_pending TEXT; -- JSON: [{ledgerId, topic, date, status, detail}]
    """,
    # 6: files that wait (jobs/output.py): a voucher whose chart lacks a key, a statement whose balances do not add
    # up. The date's other files are written and it is 'exported'; every catch-up tries what waits again. (A run's
    # left_pending names what waits too: status 'waiting', with its format; a page export's waiting files only there.)
    # A Vipps settlement XML waits here too, for its payout's dates (jobs/settlements.py).
    """
    CREATE TABLE waiting (
        ledger_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        ledger_date TEXT NOT NULL,
        format TEXT NOT NULL,                      -- gbat10, camt053 or vipps-xml
        reason TEXT NOT NULL,                      -- why it is not written, and what to do
        planned TEXT NOT NULL,                     -- JSON: the formats of the run that found it (the first names
                                                   -- the date's manifest, which it joins when written)
        out TEXT NOT NULL,                         -- the output folder it belongs in
        since TEXT NOT NULL,
        last_try TEXT NOT NULL,                    -- the run's date when it was last tried
        tries INTEGER NOT NULL DEFAULT 1,
        run_id INTEGER,
        PRIMARY KEY (ledger_id, topic, ledger_date, format)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
