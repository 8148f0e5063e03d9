// Package fcmtest runs a fake Firebase Cloud Messaging server for tests, in
// the manner of net/http/httptest.
//
// [NewServer] starts the fake on a loopback port. It generates an RSA key and
// hands out a matching service-account JSON ([Server.ServiceAccountJSON])
// whose token_uri points at the fake itself, so auth libraries that honour
// token_uri (the fcm package, golang.org/x/oauth2/google, the Firebase Admin
// SDK for Go, a hand-made request with openssl and curl) obtain access tokens
// from it through the standard jwt-bearer grant. The fake verifies the RS256 assertion. It
// also accepts, as Google APIs do, a self-signed JWT used directly as the
// bearer token (google-auth-library for Node.js posts its grants to Google's
// fixed token URL, so that is how it authenticates against the fake). It
// serves POST /v1/projects/{project}/messages:send: it checks the bearer
// token, the project, the JSON schema (each field under its proto name or its
// lowerCamelCase JSON name, as FCM's proto3 JSON allows) and the size limits,
// and answers as FCM does, with {"name": ...} or a google.rpc.Status error
// body.
//
// Accepted messages are recorded ([Server.Messages], [Server.WaitForMessages],
// [Server.Reset]); for a message sealed end to end (package seal),
// [Message.Sealed] says so and [Message.Open] decrypts it with the device's
// keys, as the app would. Failures can be scripted per token or globally with
// [Server.FailToken], [Server.FailNext] and [Server.FailAll], using the
// [Failure] constructors ([Unregistered], [QuotaExceeded], [Drop], [Hang],
// ...). [Server.RequestsFor] counts the requests read per token, whatever the
// answer.
package fcmtest
