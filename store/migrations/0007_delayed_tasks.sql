-- Tasks a worker returned to the queue with a delay (NakWithDelay), one row
-- per task message: JetStream does not say which of a consumer's pending
-- messages wait on a delay, so the workers write it down here (from their
-- housekeeping, a few seconds late). A row whose retry_at has passed is
-- history: the task was delivered again (and settled, or delayed anew,
-- which updates the row). `fleetctl status` counts the rows still waiting;
-- the holder of slot 0 prunes old rows with the task counts.
CREATE TABLE delayed_tasks (
    stream     text        NOT NULL,
    stream_seq bigint      NOT NULL,
    symbol     text        NOT NULL,
    kind       text        NOT NULL,
    class      text        NOT NULL,
    reason     text        NOT NULL,
    worker     text        NOT NULL,
    delayed_at timestamptz NOT NULL,
    retry_at   timestamptz NOT NULL,
    PRIMARY KEY (stream, stream_seq)
);

CREATE INDEX delayed_tasks_retry_at ON delayed_tasks (retry_at);
