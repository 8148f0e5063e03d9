// Package registry maps application session keys (an AXP sessionId, a user or
// device id) to the push tokens of their devices.
//
// [Registry] is the interface every backend implements; [Device] is one
// binding and [Key] its unique key (provider, app id, environment, token).
// Registering a known token under a new session moves it; each session holds
// at most [Config.MaxDevicesPerSession] devices (the least recently updated is
// evicted); bindings expire after [Config.TTL]; [Registry.Invalidate] removes
// a token a provider reported dead unless the app registered it again later.
//
// [Memory] (this package) is the embedded in-process backend. Durable and
// shared backends live in sub-packages, each a module of its own, so that
// neither importing registry nor requiring the pushwire module pulls in a
// database driver: registry/sqlite, registry/postgres and registry/redis
// (go get github.com/pushwire/pushwire/registry/postgres, and so on).
// registry/registrytest is the conformance suite they all pass.
package registry
