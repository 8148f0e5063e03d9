// Package postgres is a registry.Registry stored in PostgreSQL (12 or later)
// through github.com/jackc/pgx/v5.
//
// Bindings live in one table keyed by a SHA-256 of the binding key (tokens of
// up to 4 KiB would not fit a B-tree index), with indexes on (session,
// updated_at) and expires_at. The schema is created and migrated on open
// under an advisory lock, so several instances can start at once. Register
// is one call of a server-side function that upserts with ON CONFLICT and
// evicts over-cap bindings while holding transaction-level advisory locks on
// the session the token joins and the one it leaves; RemoveSession holds the
// session's lock too. So instances writing concurrently never exceed the
// cap, and crossing moves cannot deadlock. Every operation is one round
// trip. A sweeper deletes expired rows in batches.
//
// Expiry decisions use Config.Now (the client's clock), as in every backend.
//
// Beside the registry, in the same schema and over its pool, the AXP
// connector keeps its push configurations ([NewConfigStore], with change
// notifications) and its de-duplication store ([NewDeduper]: the events
// handled and each device's outcome, shared by every replica; its entries
// expire by the server's clock, now(), since replicas must agree on them).
package postgres
