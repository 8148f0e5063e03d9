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
// A device's payload keys (registry.Device.PayloadKeys) are the columns
// p256dh and auth, added by schema version 4, NULL for a device without
// keys; opening a version 3 schema adds them and keeps its bindings, and the
// previous release's register function stays usable during a rolling
// upgrade (it registers without keys, clearing them). The keys are stored as
// registered: the sender needs the auth secret to seal, so protect the
// database as you protect the tokens.
//
// Expiry decisions use Config.Now (the client's clock), as in every backend.
//
// Beside the registry, in the same schema and over its pool, the AXP
// connector keeps its push configurations ([NewConfigStore], with change
// notifications) and its de-duplication store ([NewDeduper]: the events
// handled and each device's outcome, shared by every replica; its entries
// expire by the server's clock, now(), since replicas must agree on them).
package postgres
