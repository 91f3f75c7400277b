-- What each worker did with the tasks of each kind, one row per (worker,
-- minute, kind). Workers add their per-minute counts from their housekeeping
-- (AddTaskCounts adds to an existing row); the holder of slot 0 prunes rows
-- older than 7 days. `fleetctl status` sums the last hour into a failure rate.
CREATE TABLE task_counts (
    worker        text        NOT NULL,
    minute        timestamptz NOT NULL,
    kind          text        NOT NULL,
    ok            bigint      NOT NULL DEFAULT 0 CHECK (ok >= 0),
    retried       bigint      NOT NULL DEFAULT 0 CHECK (retried >= 0),
    dead_lettered bigint      NOT NULL DEFAULT 0 CHECK (dead_lettered >= 0),
    PRIMARY KEY (worker, minute, kind)
);

-- Sums over the last hour and pruning select by minute alone.
CREATE INDEX task_counts_minute ON task_counts (minute);
