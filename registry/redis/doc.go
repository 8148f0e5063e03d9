// Package redis is a registry.Registry backed by Redis (7.0 or later, standalone
// or Sentinel; not Cluster) through github.com/redis/go-redis/v9.
//
// Each binding is one hash key with native expiry (PEXPIRE), and each
// session has a sorted-set index of its bindings scored by UpdatedAt. The
// binding hash records its session, which is how a token that moves finds the
// index it leaves. Every operation is one Lua script (EVALSHA), so it is
// atomic and takes one round trip; instances racing on the same token can
// never leave an index entry without its binding. Index entries whose binding
// has expired are removed lazily by the next operation on the session, and an
// index key expires with its longest-lived binding.
//
// A device's payload keys (registry.Device.PayloadKeys) are the hash field
// "k", JSON {"p256dh","auth"}, absent for a device without keys, so
// bindings written by earlier releases read as devices without keys. They
// are stored as registered: the sender needs the auth secret to seal, so
// protect the Redis as you protect the tokens.
//
// Expiry decisions use Config.Now (the client's clock), as in every backend;
// the native key expiry only frees memory. It is set as a lifetime, so the
// Redis server's clock does not matter. Keep the clocks of instances sharing
// a Redis reasonably in sync.
//
// A Registry opened from a URL honours context deadlines and cancellation
// during a call; for a client passed in Config, set ContextTimeoutEnabled in
// its options to get the same.
//
// Beside the registry, under its prefix and over its client, the AXP
// connector keeps its push configurations ([NewConfigStore], with change
// notifications) and its de-duplication store ([NewDeduper]: the events
// handled and each device's outcome, shared by every replica, expiring
// natively).
package redis
