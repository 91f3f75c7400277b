// Package sampler polls a count at a fixed period and keeps its peak: the
// demo, the end-to-end tests and the benchmark use it to watch how many
// PostgreSQL sessions the fleet holds (from pg_stat_activity).
package sampler
