// Package connector is an AXP Custom Push Notification Connector (a "push
// proxy") as an [http.Handler]: Avaya Experience Platform (AXP) POSTs
// notification events to it, and it pushes them to the devices registered for
// the event's session through FCM (Android, and iOS through FCM's APNs block)
// or straight through APNs.
//
// It serves the HTTP API of Avaya's sample Node.js connector (the
// sample-fcm-push-notification-server of the Omni SDK starter kit), so the
// Omni SDK sample apps and AXP can be pointed at it unchanged, and it fixes
// what that sample leaves out: signature checks, per-session device lists,
// answers that reflect the delivery, pruning of dead tokens, duplicate
// suppression, authentication, rate limits and input validation.
//
// # Composition
//
//   - [hmacverify] reads every callback within the body limits
//     ([hmacverify.ReadEvent]; [hmacverify.ReadBody] for every other route),
//     parses it ([hmacverify.ParseEvent]), finds its X-hmac header
//     ([hmacverify.Signature]) and checks it against the candidate secrets of
//     each configuration ([hmacverify.VerifyAny]);
//   - a [registry.Registry] stores the devices of each session (memory,
//     SQLite, PostgreSQL or Redis);
//   - a [Deduper] remembers each event handled and the outcome of each of
//     its devices (see "Duplicates and re-sent callbacks");
//   - a [dispatch.Dispatcher] delivers: one push per device in parallel
//     within [Config.DeliveryTimeout], retries of temporary failures
//     ([Config.Retry]), pruning of dead tokens, one honest outcome per
//     device; the connector keeps no delivery code of its own;
//   - one FCM [pushwire.Sender] per push configuration, built from the
//     configuration's service-account JSON by [Config.NewFCMSender] (default:
//     [fcm.New]); an optional APNs [pushwire.Sender] for iOS devices that
//     register an APNs device token, per configuration or [Config.APNs].
//     The dispatcher gets them through its SenderFor, so it closes none of
//     them: the connector closes those it built, the caller Config.APNs.
//
// Use [New] to build a [Connector] and mount it on a server:
//
//	c, err := connector.New(connector.Config{Registry: reg, AdminToken: adminToken})
//	...
//	http.ListenAndServe(addr, c)
//
// # HTTP API
//
// Every path lives under /custom-notification-connector. Request bodies are
// JSON (Content-Type application/json, any parameters such as charset
// allowed) of at most [Config.MaxBodyBytes] (default 64 KiB), received within
// [Config.BodyTimeout] (default 10 s). Error responses
// are JSON objects {"message": "..."}, as in the sample. A trailing slash on
// a path is accepted, as Express does.
//
// Push configurations (admin routes; served only when [Config.AdminToken] is
// set, and then only with "Authorization: Bearer <admin token>"):
//
//	POST   /custom-notification-connector/configs
//	       body {"fcmServiceAccountConfig": {service-account JSON}, "secrets": ["..."],
//	             "apns": {"key": "<.p8 PEM>", "keyId": "<10 chars>", "teamId": "<10 chars>",
//	                      "topic": "<bundle id>", "environment": "production"|"sandbox"}}
//	       ("secret": "..." is accepted for a single secret; "apns" is optional,
//	       environment defaults to production; answers show "key": "[redacted]")
//	       → 201 {"configId": "<new uuid>", "fcmServiceAccountConfig": {redacted}, "secretCount": n
//	              [, "apns": {redacted}] [, "warnings": [...]]}
//	PUT    /custom-notification-connector/configs/{configId}
//	       same body; creates the configuration if it does not exist (as the sample)
//	       → 200 {"configId": ..., "fcmServiceAccountConfig": {redacted}, "secretCount": n
//	              [, "warnings": [...]]}
//	GET    /custom-notification-connector/configs/{configId}
//	       → 200 {"configId", "fcmServiceAccountConfig": {redacted}, "secretCount" [, "warnings"]}
//	       → 404 {"message": "configId [<id>] not found"}
//	GET    /custom-notification-connector/configs
//	       → 200 [ {configuration}, ... ]
//	DELETE /custom-notification-connector/configs/{configId}
//	       → 204 (also when it did not exist, as the sample)
//	POST   /custom-notification-connector/notifications
//	       body {"sessionId": "...", "message": {"data": {"eventId": ..., ...}}}
//	       a test push: the data's eventId (new when absent), conversationId,
//	       customerId and eventDate make an event that is delivered like a
//	       verified callback → the callback's answer (see below)
//
// Device registrations (the routes the sample apps call):
//
//	PUT    /custom-notification-connector/device-registrations/{deviceToken}
//	       body {"configId": "...", "sessionId": "..." [, "type": "iOS"]
//	             [, "payloadKeys": {"p256dh": "...", "auth": "..."}]}
//	       → 200 {"configId", "sessionId", "deviceToken" [, "type"]}
//	       → 400 {"message": "payloadKeys: ..."} for keys that are not a
//	         P-256 public key and a 16-byte secret, base64url
//	       → 404 {"message": "configId [<id>] not found"}
//	       → 404 {"message": "configId [undefined] not found"} without a configId,
//	         as the sample
//	GET    /custom-notification-connector/device-registrations/{deviceToken}
//	       → 200 {"configId", "sessionId", "deviceToken" [, "type"]}
//	       → 404 {"message": "deviceToken [<token>] not found"}
//	DELETE /custom-notification-connector/device-registrations/{deviceToken}
//	       → 204, or 404 {"message": "deviceToken [<token>] not found"}
//	POST   /custom-notification-connector/device-registrations:search
//	       body {"sessionId": "..."}
//	       → 200 {the most recently registered device of the session,
//	              "registrations": [every live device of the session]}
//	       → 404 {"message": "sessionId [<id>] not found"}
//
// The sample Android app sends PUT .../device-registrations/<FCM token> with
// {"configId","sessionId"} (Retrofit + Moshi, Content-Type
// "application/json; charset=UTF-8") and only checks for a 2xx answer; the
// sample iOS app sends the same with "type": "iOS" (Content-Type
// "application/json"), decodes {configId, sessionId, deviceToken} from the
// answer, and sends DELETE .../device-registrations/<token> without a body.
// Both register FCM registration tokens. A registration whose type is "ios"
// in any case marks an iOS device.
//
// The AXP callback:
//
//	POST   /custom-notification-connector/axp-callback/notifications
//	       header X-hmac: hex(HMAC-SHA256(secret, eventId + sessionId))
//	       body {"eventId","conversationId","customerId","sessionId","eventDate", ...}
//	       → 200 {"eventId","sessionId","delivered","failed","unknown","pruned"}
//	       → 200 {..., "duplicate": true} for an event already handled
//	       → 202 {..., "unknown": n} when the outcome of the pushes is unknown
//	       → 400 malformed event, 401 bad or missing signature,
//	         408 body not received within BodyTimeout, 413 body too large,
//	         429 too many bad signatures from the address, 500 nothing
//	         delivered and some push failed (or a store failed), 503 too
//	         many callbacks in progress
//
// Health:
//
//	GET /healthz → 200 "ok" while the process serves
//	GET /readyz  → 200 "ok" when the registry answers within a second, else 503
//
// # Callback status policy
//
// AXP never retries a callback, and it backs off from a connector that keeps
// answering with errors, except for 400 and 500 (any 2xx is a success to
// it). The answer counts, for the devices this callback pushed to, those
// whose provider accepted the push ("delivered"), those whose push
// definitely failed, dead tokens included ("failed"), those whose outcome is
// unknown ("unknown": the request was written and its answer never came,
// because the deadline passed or the connection broke: the device may have
// got it) and the dead tokens removed from the registry ("pruned"). The
// connector answers:
//
//   - 401 when X-hmac is missing or matches no secret (see below);
//   - 400 when the body is not a JSON event with an eventId and a sessionId
//     (or the Content-Type is not JSON, or one of the five AXP members is
//     not a string);
//   - 200 {"delivered": 0} when the session is unknown or has no live device
//     (logged at info level: the app was uninstalled or never registered),
//     and when its devices' configurations were all deleted since they
//     registered;
//   - 200 {"duplicate": true, "delivered": 0} when the same eventId for the
//     same sessionId was already handled and none of its devices is to be
//     pushed again (see below; AXP events carry no signed timestamp, so a
//     replayed request must not push twice);
//   - 500 when a registry or configuration-store call fails or passes its
//     bound (nothing was pushed), and when the callback was not verified
//     within [Config.CallbackTimeout] (see "Bounds");
//   - 503 with Retry-After, at once, when [Config.MaxConcurrency] callbacks
//     are in progress (overload: refused rather than queued);
//   - 429 with Retry-After when the client address sent too many callbacks
//     with a bad signature ([Config.BadSignatureLimit]), before any lookup;
//
// and for a callback that pushed, by the mix of outcomes:
//
//	delivered  definite failures  unknown  status
//	≥ 1        any                any      200
//	0          ≥ 1                any      500
//	0          0                  ≥ 1      202
//	0          0                  0        200 (only dead tokens, all pruned)
//	not known yet at the callback deadline    202 (every device under way unknown)
//
// where definite failures are the failed pushes and the dead tokens that
// were not pruned ("failed" less "pruned"). The last line is the answer at
// [Config.CallbackTimeout] when the delivery began but has not ended (see
// "Bounds").
//
// That is: 200 when some device accepted the push; 500 when none did and
// some push definitely failed (provider outage, quota, configuration error,
// after the retries [Config.Retry] allows within [Config.DeliveryTimeout],
// default 5 s; a dead token that could not be pruned, or was registered
// again since the provider's dead-since time, counts as a failure); 202
// Accepted when nothing was delivered nor failed for sure but some outcome
// is unknown: the truth (the push may have arrived, the connector does not
// know), and a success status, so AXP does not back off for a provider that
// was slow to answer; 200 when every device was a dead token, now pruned
// (the session has no live device left, the same case as an unknown
// session). [CallbackResult.Status] computes it.
//
// # Duplicates and re-sent callbacks
//
// The [Deduper] ([Config.Dedupe]) remembers each event (eventId and
// sessionId) for [Config.DedupeTTL] (default 24 h) after its last delivery,
// with the outcome of each device: delivered, dead, failed for a temporary
// reason (retryable), failed for good (permanent) or unknown. The same
// callback sent again pushes only to the devices whose push failed for a
// temporary reason, never again to a device that got it or may have got it
// (unknown), nor to a dead or permanently refused one, nor to a device
// registered since; when there is none it answers 200 {"duplicate": true}.
// The claim of an event is atomic in every store: of two replicas that get
// the same callback at the same moment, one pushes and the other answers
// {"duplicate": true} at once (it does not wait for the outcome). A claim
// never blocks: the devices a delivery claimed count as unknown until it
// records their outcomes, so a process that dies mid-delivery leaves them
// unknown, never pushed twice (a safer rule than a lease, after whose
// expiry a device could be pushed again). When the store fails, the
// connector pushes anyway and logs it: a duplicate is better than a lost
// push. The default store is in memory: it forgets on a restart and is not
// shared by replicas; registry/sqlite, registry/postgres and registry/redis
// each keep one beside the registry (NewDeduper).
//
// # Bounds
//
// Every callback is answered within [Config.CallbackTimeout] (default 8 s)
// of its body having been read (at most [Config.BodyTimeout], 10 s),
// whatever hangs: its work runs apart from the handler, which answers at
// the deadline if the work has not finished, with what is known then:
//
//	work at the deadline                answer
//	lookups or signature check          500 "callback timed out"; the work
//	                                    will push nothing, claim nothing
//	delivering (claim or pushes)        202, the devices under way counted
//	                                    "unknown", none "delivered"
//	recording the outcomes              the delivery's own answer (table above)
//
// Before delivery began nothing was pushed, and the work, when it gets
// there, finds the callback answered and stops, so a re-send delivers: a
// 500 is the truth and lets AXP keep sending. Once delivery began, pushes
// may be reaching the providers: a 500 would claim a failure that may not
// be one, and the event memory already counts those devices unknown (until
// the work records their outcomes), so a 202 tells what the connector
// knows, as for a provider that never answered; a re-send pushes a device
// again only if its push turns out to have definitely failed for a
// temporary reason. The delivery itself ends before the callback's
// deadline (see below), so this happens only when a store ignores its
// context. Each registry call is
// bounded by [Config.LookupTimeout] (2 s), each configuration-store call by
// [Config.ConfigTimeout] (2 s), each de-duplication call by
// [Config.DedupeTimeout] (1 s), the delivery by [Config.DeliveryTimeout]
// (5 s) and by the callback deadline less an eighth of CallbackTimeout. At
// most [Config.MaxConcurrency] callbacks (64 per CPU by default) are in
// progress, work that outlived its answer included, so goroutines and
// memory stay bounded while a backend hangs. Give the http.Server a
// WriteTimeout above BodyTimeout + CallbackTimeout.
//
// A callback with a bad signature is cheap: a missing X-hmac or one that is
// not 64 hexadecimal digits is refused before any lookup; the configurations
// of a session's devices are remembered for [Config.SessionCacheTTL] (1 s),
// so a wrong signature for a recent session costs no query; failed
// signatures are counted per client address and, over the limit, refused
// 429 before any lookup; refused callbacks are logged at debug level, with
// one info record per [BadRequestLogInterval].
//
// A callback is handled in this order: Content-Type and size checks, parsing
// ([hmacverify.ParseEvent]: a repeated AXP member is refused, so every reader
// agrees on the signed values) and [ValidateEvent], the presence and form of
// X-hmac, the limit on callbacks in progress, the per-address limit on bad
// signatures, lookup of the session's devices (which the secret depends
// on, see below), X-hmac verification, the claim of the event, then one push
// per device in parallel, pruning of dead tokens, the record of the outcomes
// and the answer. The answer
// is sent after every send finished or the deadline passed, never before, so
// a 200 means what it says. A client that hangs up does not cancel the
// pushes: AXP will not send the event again.
//
// # Secrets
//
// The callback carries no configId, so the connector finds the secrets to
// check X-hmac against through the session: it looks up the session's devices
// and accepts the secrets of every push configuration those devices were
// registered with. The event then goes only to the devices of the
// configurations whose secret signed it: when a session holds devices of two
// configurations, one configuration's secret never reaches the other's
// devices, and devices whose configuration was deleted get nothing. When the
// session has no device (or none of its configurations still exists) it
// accepts the secret of any configuration and sends nothing, so a bad
// signature is a 401 whether or not the session exists and the answer
// reveals nothing about registrations. A configuration without any secret
// accepts no callback for its devices (another configuration's secret never
// stands in for it): the /configs answers then carry a "warnings" entry
// ([WarningNoSecret]) and the change is logged at warn level. Several
// secrets per configuration (several lines of a secret file, or several
// entries of "secrets") allow rotation. Secrets are write-only: responses
// carry "secretCount" instead.
//
// # How devices are stored
//
// A registration becomes one [registry.Device]: Session = sessionId, Token =
// the path's deviceToken, Provider = fcm (or apns, see below), AppID and
// Environment empty, Labels {"configId": <configId>, "type": <type as sent>}.
// A token therefore has one binding, as in the sample, and registering it
// again under another session moves it there. A session holds several
// devices (the registry's per-session limit applies, 16 by default: the least
// recently registered go first). A registration lives for the registry's TTL
// (30 days by default) and is renewed by registering again, as the sample
// apps do at every session start.
//
// An iOS registration ("type" "iOS") whose token is an APNs device token (64
// to 200 hexadecimal digits) is stored with Provider = apns and is pushed
// straight through its configuration's own APNs credential ("apns" in the
// configuration body, [PushConfig.APNs]) or, for configurations without one,
// through [Config.APNs]; such registrations are refused with 400 when
// neither exists. Every other token is an FCM token.
//
// # End-to-end encryption
//
// An app may register payload keys with its token: "payloadKeys", the
// "keys" of a Web Push subscription (p256dh, its P-256 public key, and
// auth, a 16-byte secret; package seal/README.md says how to make them and
// decrypt). They are stored with the device ([registry.Device.PayloadKeys]),
// replaced by the next registration (which clears them when it has none),
// never logged, and left out of every answer. Every push to such a device is
// sealed for its keys (RFC 8291, package seal): FCM and APNs then see only
// the token, the provider's own fields and a tracking id. On FCM the push
// is a data message (the app decrypts in onMessageReceived); on APNs an
// alert shows the placeholder DefaultAlertTitle/DefaultAlertBody with
// mutable-content for the app's Notification Service Extension to decrypt
// and replace. An iOS app that wants visible sealed alerts registers its
// APNs device token: through FCM a sealed push is a data message, which
// iOS delivers only as a background push. Apps that send no keys get the
// same pushes as before. [Config.Seal] with dispatch.SealStrict sends nothing
// unsealed: a push to a device without keys fails permanently (counted in
// "failed") and never reaches its provider, the behaviour of a relay that
// must carry only ciphertext.
//
// # Where configurations live
//
// Configurations are kept in [Config.Configs]: in memory by default, or in
// the registry's own database with the backends' stores
// (registry/sqlite.NewConfigStore, registry/postgres.NewConfigStore,
// registry/redis.NewConfigStore), so that they survive a restart. With
// [Config.StateKeys] the connector seals each configuration's secret
// material (AXP secrets, the FCM service account, the APNs key) with
// AES-256-GCM before the store sees it: stores keep only [PushConfig.Sealed]
// and the times, and a dump of the database holds no secret in clear.
// [ResealConfigs] moves every configuration to the key file's newest key
// (see package statekey for the key file).
//
// Several replicas may share one PostgreSQL or Redis: their stores
// implement [ConfigWatcher] (LISTEN/NOTIFY, pub/sub), and each connector
// caches the configurations it reads and drops an entry as soon as any
// replica changes or deletes it; while the change feed is down the cache is
// off and every read goes to the store. Over a store without change
// notifications (memory, SQLite) nothing is cached.
//
// # What is pushed
//
// [Config.BuildMessage] builds the message for each device; [DefaultMessage]
// is the default: a data-only message carrying eventId, conversationId,
// customerId, sessionId and eventDate (as received, whatever its form) as
// strings, plus the callback's other string members (channel, engagementId,
// dialogId, ... as the sample forwards them; [Config.DropExtraMembers] leaves
// them out) while the data stays within [MaxDataBytes], at high priority. An iOS device gets an alert ([pushwire.KindAlert], title
// "New message", body "You have a new message") with MutableContent, which the
// FCM client puts in the APNs block (aps mutable-content 1) and the APNs
// client in aps, so the app's notification service extension can fetch the
// content through the Omni SDK; the data fields travel with it.
//
// # Deliberate differences from the sample
//
//  1. The callback's X-hmac is verified (401 when wrong or missing); the
//     sample never checks it.
//  2. The callback answers after delivery with a JSON summary, and the status
//     follows the policy above (202 when the outcome is unknown); the sample
//     answers 200 with an empty body
//     before FCM answers, and never answers (the request hangs) for an
//     unknown session or device.
//  3. A session holds every device registered for it, and a token
//     re-registered under another session moves there; the sample keeps one
//     token per session and leaves stale session-to-token mappings behind.
//  4. Registrations require a sessionId (both sample apps always send one);
//     the sample accepts a registration without one but can never push to it.
//     A registration without configId is answered as by the sample (404
//     "configId [undefined] not found").
//  5. Only configId, sessionId and type are stored and echoed; the sample
//     stores and echoes any field the client sends.
//  6. Every field is validated: tokens 16 to 4096 characters of
//     [A-Za-z0-9_:.-], ids 1 to 128 characters of [A-Za-z0-9_.-] (UUIDs
//     pass), type at most 32 characters; violations are 400. Bodies must be
//     JSON (415 otherwise; 400 on the callback, see the status policy) and at
//     most MaxBodyBytes (413), received within BodyTimeout (408, applied as
//     a read deadline). The sample accepts anything Express parses,
//     including form bodies, up to 100 KB.
//  7. The /configs routes require an admin bearer token and are off (404)
//     without one; responses never contain the service account's private key
//     (private_key becomes "[redacted]", private_key_id keeps its last six
//     characters). The sample serves them to anyone and echoes the key.
//  8. Configurations carry the AXP secret(s) ("secrets", write-only), which
//     the sample has no notion of. PUT replaces the fields it carries and
//     keeps the others; the sample's PUT drops the service account when the
//     body has none. A service account that does not parse is a 400.
//  9. Registration can require a bearer token or a custom [Authorizer]
//     (open by default, as the sample), and registration and admin routes
//     are rate limited per client address (429 with Retry-After). Behind a
//     reverse proxy, [Config.TrustedProxies] names it, so that the client
//     address comes from its X-Forwarded-For (or RFC 7239 Forwarded, see
//     [Config.ProxyHeader]) header instead of every app sharing the proxy's
//     bucket; the header is read only when the peer is a trusted proxy.
//  10. device-registrations:search answers with the most recent device and
//     adds "registrations" with all of them.
//  11. The sample's test route POST /custom-notification-connector/notifications
//     is an admin route here, and it pushes what a callback would (the AXP
//     fields of message.data, through [Config.BuildMessage]) instead of any
//     FCM message the caller writes; it answers with the delivery summary
//     where the sample answers an empty 200 before FCM does. GET
//     .../device-registrations (every token, to anyone) is not served.
//  12. The data message is sent with high priority (the sample leaves FCM's
//     default, normal, which Android may delay in Doze), and the iOS alert
//     has a fixed title and body instead of "title <ms>"/"body <ms>".
//  13. Unknown paths are 404 and wrong methods 405 with a JSON message; the
//     sample renders an HTML error page, and serves an HTML page at "/".
//     Non-canonical paths ("//", "/../", also from a decoded %2F) are 404
//     rather than redirected.
//  14. Paths are case-sensitive; Express matches them case-insensitively.
//  15. Dead tokens reported by FCM or APNs are removed from the registry;
//     the sample keeps them forever.
//  16. A callback's members other than the five AXP ones are forwarded only
//     when their value is a string and their name is not reserved by FCM or
//     APNs, and only within [MaxDataBytes]; the sample forwards the whole
//     body and fails (the request hangs) when any member is not a string.
//     A non-string eventId, conversationId, customerId, sessionId or
//     eventDate is a 400.
//  17. Devices whose configuration was deleted are skipped (the callback
//     answers 200 with "delivered": 0 when no other device is left); the
//     sample fails to send to them.
//
// # Observability
//
// Every delivery is logged through [Config.Logger] (by the dispatcher) with
// the provider, the token's last six characters, eventId, sessionId,
// outcome, path, latency and retries;
// client addresses in logs are those of [Config.ClientAddr].
// [Config.Metrics] receives request, delivery and pruning events; the
// connector itself imports no metrics library.
//
// A [Connector] is safe for concurrent use.
package connector
