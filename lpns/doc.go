// Package lpns is a local push notification service: the model Cisco Unified
// CM uses for iOS phones on enterprise Wi-Fi without internet access. Phones
// keep a persistent, authenticated WebSocket (subprotocol "lpns.v1", see
// PROTOCOL.md) to the server; the server pushes notifications over it, waits
// for the phone's acknowledgement. Package dispatch falls back to APNs when
// local delivery fails (the phone is not connected or does not acknowledge).
//
// The package provides:
//   - [Server], serving a TLS listener itself ([Server.Serve]; Cisco uses
//     port 9560) or mounted as an http.Handler, with pluggable authentication ([Authenticator], [JWTAuthenticator]),
//     one live connection per device, keepalive and token-expiry enforcement,
//     [Server.Send] waiting for the device's ack and sealing end to end the
//     messages for devices with payload keys (package seal; strict mode
//     [Config.SealStrict]), [Server.Disconnect], session
//     listing, hardening limits, observability [Hooks], graceful
//     [Server.Shutdown] and optional multi-node routing through a [Cluster]
//     (see package lpns/lpnsredis, a module of its own that requires go-redis);
//   - [Client], the device side, for tests, simulators and Go devices: a
//     prioritized server list, keepalives, token refresh, acks, reconnection
//     and the opening of sealed notifications ([ClientConfig.PayloadKeys],
//     [Notification.Open]);
//   - [CheckCertificate] and [CheckChain], which report server certificates
//     iOS would refuse.
package lpns
