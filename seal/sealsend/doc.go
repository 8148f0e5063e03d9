// Package sealsend is a [pushwire.Sender] that seals every message for a
// device that registered payload keys (RFC 8291, package seal) before
// handing it to the sender it wraps, and, in strict mode, refuses to send
// anything unsealed.
//
// # What a sealed push carries
//
// The content of the message becomes one JSON object ([seal.Content]:
// kind, title and body of an alert, the data map, the tracking id),
// sealed with a fresh ephemeral key and salt. The message handed on keeps
// what the provider itself needs: Token, Topic, Priority, TTL, Expire,
// CollapseKey and ID. Its data map holds only three members:
//
//	"encoding":   "aes128gcm"
//	"ciphertext": base64url, no padding, of the whole RFC 8188 body
//	"trackingId": the message's ID, or a fresh random UUID that also becomes its ID
//
// The shape of the rest depends on Config.Provider:
//
//   - APNs: an alert goes out as a placeholder alert (Config.Placeholder)
//     with mutable-content: 1, for the app's Notification Service
//     Extension to decrypt and replace; VoIP and background pushes carry no
//     visible text.
//   - FCM: every message goes out as a data message (an alert too: a
//     notification message would be shown by Android without the app
//     decrypting it); the app decrypts in onMessageReceived and shows the
//     alert itself. Priority stays high unless PriorityNormal was asked.
//     Reach iOS devices through APNs directly: a data message through FCM
//     is only a background push there.
//   - LPNS: the kind is kept, the text removed; the app decrypts what the
//     local connection delivers.
//
// CollapseKey, Topic and ID are visible to the provider: put no personal
// data in them.
//
// # Size
//
// The sealed message must fit the provider's limit: FCM 4096 bytes (the
// message object as package fcm encodes it), APNs 4096 and APNs VoIP 5120
// (the payload as package apns encodes it), LPNS 5120 (the notification
// payload as package lpns encodes it; set Config.MaxBytes when the server's
// MaxPayloadBytes differs). The size is computed exactly, before sending,
// for those encoders; a message over the limit is refused with a
// [*TooLargeError] (class pushwire.ErrPermanent) that says by how many
// bytes. Padding never pushes a message over: it stops at the limit.
//
// # Errors and shutdown
//
// Errors of the wrapped sender pass through unchanged. Errors of sealsend
// itself match pushwire.ErrPermanent: [ErrNoKeys] (strict mode, no keys),
// invalid keys (seal.ErrInvalidKey) and [*TooLargeError]. Send after Close
// matches pushwire.ErrClosed. A Sender owns the sender it wraps: Close
// refuses new sends and closes it (Close, or Shutdown with an ended
// context), which ends the sends under way; Shutdown waits for them, then
// shuts it down with its context. A wrapped sender with neither method has
// its sends ended through their contexts. The Sender passes the
// conformance suite of package sendertest in both cases.
package sealsend
