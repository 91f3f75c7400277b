-- Finality of bars, and what audits found.
--
-- fetched_at is when the source answered with the bar's stored values.
-- provisional_until is NULL for a final bar. Otherwise the bar was fetched
-- before it was final (its session or interval had not closed, or the
-- settling period for revisions had not passed, see package history) and
-- it is the instant from which a fetch returns the final values: the bar is
-- provisional until a fetch after that instant is stored. Bars stored before
-- this migration are final, with fetched_at NULL (their as_of stands in).
ALTER TABLE bars ADD COLUMN fetched_at timestamptz;
ALTER TABLE bars ADD COLUMN provisional_until timestamptz;

-- The provisional bars are few: their index is small and serves both the
-- look-up by series and the scan for the ones due.
CREATE INDEX bars_provisional ON bars (symbol, "interval", ts)
    WHERE provisional_until IS NOT NULL;

-- A feature row is provisional when a bar it was computed from was.
ALTER TABLE features ADD COLUMN provisional boolean NOT NULL DEFAULT false;

-- Bars an audit expected, that a repair asked the source for, and that the
-- source had no data for: audits stop reporting them and repairs stop asking.
-- Deleting a row makes the next audit report the bar missing again.
CREATE TABLE known_holes (
    symbol      text        NOT NULL CHECK (symbol <> '' AND length(symbol) <= 24),
    "interval"  text        NOT NULL,
    ts          timestamptz NOT NULL,
    source      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", ts)
);

-- One row per audit run (fleetctl audit, or the periodic audit of the
-- worker holding slot 0): what fleetctl status shows as the last audit.
-- scope is empty for an audit of every series, or the filters it ran with.
-- persisting counts the gaps that an earlier audit had already asked to
-- repair and that are still missing.
CREATE TABLE audits (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    by_whom      text        NOT NULL,
    scope        text        NOT NULL DEFAULT '',
    series       integer     NOT NULL CHECK (series >= 0),
    expected     bigint      NOT NULL CHECK (expected >= 0),
    stored       bigint      NOT NULL CHECK (stored >= 0),
    missing      bigint      NOT NULL CHECK (missing >= 0),
    gaps         integer     NOT NULL CHECK (gaps >= 0),
    persisting   integer     NOT NULL DEFAULT 0 CHECK (persisting >= 0),
    known_holes  bigint      NOT NULL CHECK (known_holes >= 0),
    repair_tasks integer     NOT NULL DEFAULT 0 CHECK (repair_tasks >= 0),
    took_ms      bigint      NOT NULL CHECK (took_ms >= 0)
);

-- The gaps a repair has asked the source to fill, by their first missing
-- bar: an audit that finds one again (after its grace period) counts it as
-- persisting. A gap no longer found is deleted.
CREATE TABLE repairs (
    symbol       text        NOT NULL,
    "interval"   text        NOT NULL,
    first_ts     timestamptz NOT NULL,
    last_ts      timestamptz NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, "interval", first_ts)
);
