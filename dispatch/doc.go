// Package dispatch delivers one notification to every live device of a
// session: it looks the session up in a [registry.Registry], picks the
// sender of each device's provider (FCM, APNs, local push), shapes the
// message for the device, sends in parallel within a deadline, retries
// temporary failures, removes the tokens a provider reports dead and returns
// one honest outcome per device.
//
// It is the pipeline of the AXP connector, made public for every backend
// that notifies users: a call server pushing incoming calls the way Cisco
// Unified CM does (local push first while the phone is on the enterprise
// Wi-Fi, an APNs VoIP push otherwise, FCM for Android), a chat backend, a
// ticketing system.
//
// # Outcomes
//
// [Dispatcher.Notify] returns a [Result] with one [Delivery] per device
// (per phone: see below), each with one [Outcome]:
//
//   - [Delivered]: the provider (or the phone, over local push) accepted the
//     message; [Delivery.Path] says which way it went.
//   - [Dead]: the provider said the token is gone. The binding was
//     invalidated as of the provider's dead-since time, or as of the
//     binding's UpdatedAt when the provider gave none, so a token
//     registered again meanwhile is kept ([Delivery.Pruned] says whether
//     the binding was removed, [Delivery.PruneErr] why not).
//   - [Failed]: a permanent or configuration error, or temporary errors
//     until the retry budget or the deadline ran out; the request did not
//     reach the provider, or the provider refused it.
//   - [Unknown]: the request may have reached the provider: it was written,
//     and the answer never came (the deadline passed, the connection broke,
//     the phone did not acknowledge). An unknown outcome is never reported
//     as failed, and is never retried: a retry could push twice.
//
// # One phone, one push
//
// A phone often has several bindings in a session: an LPNS device id for
// local push and an APNs VoIP token, as in Cisco's model. Bindings of a
// session whose [LabelDevice] label has the same value are one phone. It
// gets one push: over local push first, when it has an LPNS binding and a
// local sender is configured; when the phone is not connected or does not
// acknowledge within [Config.LocalTimeout] (the Cisco "local timeout" rule),
// through its most recently registered APNs binding, else its most recently
// registered FCM binding. A phone that acknowledged locally is never pushed
// through APNs. The local and the remote push carry the same id (the apns-id
// of the remote push), which the app uses to drop a late duplicate.
// Bindings without the label are one device each.
//
// # Shaping
//
// [Config.Shape] turns the provider-neutral message into the one a device
// gets; [DefaultShape] sends a VoIP call to iOS as an APNs voip push (topic
// <bundle>.voip), to Android as a high-priority FCM data message, keeps data
// messages data-only, and gives iOS devices that must not use CallKit
// ([LabelNoCallKit], the Cisco manual's "iOS13 Push Notification (China
// Region)") a visible alert with the caller's name and number instead.
//
// # End-to-end encryption
//
// A binding that registered payload keys ([registry.Device.PayloadKeys])
// gets its pushes sealed for those keys (RFC 8291, package seal), on every
// path: the content (alert text, data) goes inside the ciphertext, and FCM,
// APNs or the local push server see only the token, the provider's own
// fields and a tracking id; package seal/sealsend says what each provider's
// sealed message carries. A device that registers new keys is sealed for
// them from its next push on. Bindings without keys get today's pushes,
// unless [Config.Seal] is strict ([SealStrict]), which sends nothing
// unsealed: such a binding fails permanently before anything is sent (a
// phone is then tried through its remote binding). A message too large
// once sealed fails permanently too. [Delivery.Sealed] reports each sealed
// push. With [SealOff] dispatch seals nothing and hands the keys to the
// senders in the message, for callers whose senders seal.
//
// # Time, load and retries
//
// Each call has a deadline: the context's, capped by [Config.Timeout]. The
// sends of one call run with at most [Config.MaxConcurrencyPerCall] at once,
// and the sends of all calls with at most [Config.MaxConcurrency]. A
// temporary failure is retried with full-jitter exponential backoff
// ([RetryPolicy]), never sooner than the provider's Retry-After and never
// sleeping past the deadline. A provider that hangs costs at most the
// deadline: Notify returns by then, reporting [Unknown] for sends still
// under way.
//
// Dispatch owns the retries: it knows the deadline of the whole call and
// counts every attempt in the outcome it reports. Give it senders that do not
// retry on their own (fcm and apns: RetryPolicy MaxAttempts 1); a sender that
// retries internally multiplies the attempts (its own retries are invisible
// to dispatch and are not counted in [Delivery.Attempts]).
//
// # Observability
//
// [Config.OnDelivery] is called once per device outcome with the provider,
// outcome, latency and retries; [Config.Logger] gets one record per device
// delivery with the token's last characters only ([pushwire.Redact]).
package dispatch
