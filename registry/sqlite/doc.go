// Package sqlite is a registry.Registry stored in an SQLite database file,
// through the pure-Go driver modernc.org/sqlite (no cgo).
//
// The database runs in WAL mode with a busy timeout. Writes go through a
// single connection in BEGIN IMMEDIATE transactions, so writers in this
// process never meet SQLITE_BUSY and a register (upsert plus cap eviction) is
// atomic; reads use a separate pool of connections and proceed in parallel
// with the writer. The schema is created and migrated on open (versioned with
// PRAGMA user_version). A sweeper deletes expired rows.
//
// A device's payload keys (registry.Device.PayloadKeys) are the columns
// p256dh and auth, added by schema version 2, NULL for a device without
// keys; opening a version 1 database adds them and keeps its bindings. They
// are stored as registered: the sender needs the auth secret to seal, so
// protect the file as you protect the tokens.
//
// It is the durable default for a single machine. Several processes may share
// the file (the busy timeout arbitrates), but for a fleet use
// registry/postgres or registry/redis.
//
// Beside the registry, in the same database and over its connections, the
// AXP connector keeps its push configurations ([NewConfigStore]) and its
// de-duplication store ([NewDeduper]: the events handled and each device's
// outcome, expiring by Config.Now), so that they survive a restart.
package sqlite
