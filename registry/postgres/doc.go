// Package postgres is a registry.Registry stored in PostgreSQL (12 or later)
// through github.com/jackc/pgx/v5.
//
// Bindings live in one table keyed by a SHA-256 of the binding key (tokens of
// up to 4 KiB would not fit a B-tree index), with indexes on (session,
// updated_at) and expires_at. The schema is created and migrated on open
// under an advisory lock, so several instances can start at once. Register
// is one call of a server-side function that upserts with ON CONFLICT and
// evicts over-cap bindings under a per-session transaction-level advisory
// lock, so instances writing concurrently never exceed the cap; every
// operation is one round trip. A sweeper deletes expired rows in batches.
//
// Expiry decisions use Config.Now (the client's clock), as in every backend.
package postgres
