-- Per-bar features computed from bars (package features), one row per
-- (symbol, interval, bar start), keyed like bars but without a foreign key:
-- features are derived data that can be dropped and recomputed at any time.
-- A NULL feature is not defined for that bar (too little history, or a
-- degenerate window), never a stand-in for 0.
CREATE TABLE features (
    symbol        text             NOT NULL CHECK (symbol <> '' AND length(symbol) <= 24),
    "interval"    text             NOT NULL,
    ts            timestamptz      NOT NULL,
    simple_return double precision,
    log_return    double precision,
    sma5          double precision,
    sma20         double precision,
    sma50         double precision,
    ema5          double precision,
    ema20         double precision,
    ema50         double precision,
    rsi14         double precision,
    vol20         double precision,
    volume_z20    double precision,
    computed_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", ts)
);
