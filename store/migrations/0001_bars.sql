-- Price bars, one row per (symbol, interval, bar start).
-- Daily and longer bars are keyed by their trading date at 00:00 UTC;
-- intraday bars by their start instant.
CREATE TABLE bars (
    symbol     text             NOT NULL CHECK (symbol <> '' AND length(symbol) <= 24),
    "interval" text             NOT NULL,
    ts         timestamptz      NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    adj_close  double precision,
    volume     bigint           NOT NULL,
    source     text             NOT NULL,
    updated_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", ts)
);
