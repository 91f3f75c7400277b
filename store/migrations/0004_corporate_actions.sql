-- Corporate actions and the restatements they caused.
--
-- bars.as_of is the instant whose corporate actions the bar's values are
-- adjusted for: when the source answered (a source answers split-adjusted as
-- of the moment of the request). An action applies to a stored bar that
-- starts before its ex-date and is as of an earlier instant. NULL for bars
-- stored before this migration: their updated_at stands in for it.
-- A restatement changes values but not as_of.
ALTER TABLE bars ADD COLUMN as_of timestamptz;

-- Every corporate action a source has reported, once (the same action comes
-- back in every answer whose window holds its ex-date). ex_date is the
-- trading date at 00:00 UTC, as daily bars are keyed. The values are the
-- first report's: a distribution's amount in the units of that answer, and
-- its factor (1 - amount / the close before the ex-date in that answer; NULL
-- when the answer had no bar before the ex-date).
CREATE TABLE corporate_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    symbol        text             NOT NULL CHECK (symbol <> '' AND length(symbol) <= 24),
    ex_date       timestamptz      NOT NULL CHECK (ex_date = date_trunc('day', ex_date, 'UTC')),
    kind          text             NOT NULL CHECK (kind IN ('split', 'dividend', 'capital_gain')),
    numerator     double precision CHECK (numerator > 0),
    denominator   double precision CHECK (denominator > 0),
    amount        double precision CHECK (amount > 0),
    factor        double precision CHECK (factor > 0 AND factor < 1),
    source        text             NOT NULL,
    first_seen_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, ex_date, kind),
    CHECK ((kind = 'split') = (numerator IS NOT NULL AND denominator IS NOT NULL AND amount IS NULL)),
    CHECK ((kind <> 'split') = (amount IS NOT NULL AND numerator IS NULL AND denominator IS NULL)),
    CHECK (kind <> 'split' OR factor IS NULL)
);

-- One row per (action, series) once the action has been applied to the
-- series' stored bars: the row is claimed in the restating transaction, so an
-- action is applied to a series exactly once. factor is what prices were
-- divided by (a split) or adjusted closes multiplied by (a distribution).
CREATE TABLE restatements (
    action_id     bigint           NOT NULL REFERENCES corporate_actions (id),
    "interval"    text             NOT NULL,
    bars_changed  bigint           NOT NULL DEFAULT 0 CHECK (bars_changed >= 0),
    first_changed timestamptz,
    last_changed  timestamptz,
    factor        double precision,
    restated_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (action_id, "interval")
);

-- fleetctl status counts the last day's restatements.
CREATE INDEX restatements_restated_at ON restatements (restated_at);
