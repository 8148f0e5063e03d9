// Package apnstest is a fake Apple Push Notification service for tests: a
// TLS HTTP/2 server on loopback, started in one line like httptest.
//
//	srv := apnstest.NewServer(apnstest.Config{})
//	defer srv.Close()
//	client, _ := apns.New(apns.Config{BaseURL: srv.URL, Token: srv.TokenAuth(), RootCAs: srv.CertPool(), Topic: "com.example.app"})
//
// The fake checks provider tokens (ES256, known kid, iss = team, iat at most
// an hour old, not changed more often than every 20 minutes per connection)
// or TLS client certificates issued by its CA, the request headers, topic
// against push type, token format and payload size, and answers with APNs'
// statuses and JSON bodies.
//
// The apns-push-type header is optional, as it is for iOS apps: without it
// the fake takes the push type from the topic's suffix (.voip is voip,
// .complication complication, .pushkit.fileprovider fileprovider,
// .push-type.liveactivity liveactivity; any other topic is alert), so a VoIP
// push without the header is accepted and allowed the larger VoIP payload.
// A certificate-authenticated request without apns-topic goes to the
// certificate's topic.
//
// Failures can be scripted per device token ([Server.Fail]): any reason, 410
// with a timestamp, 429, 5xx, GOAWAY, a dropped or a silent (hung)
// connection, a request read and never answered (stalled). Accepted
// notifications are recorded ([Server.Notifications],
// [Server.WaitForNotifications]); [Server.RequestsFor] counts the requests
// read per token, whatever the answer. For a push sealed end to end
// (package seal), [Notification.Sealed] says so and [Notification.Open]
// decrypts it with the device's keys, as the app would.
//
// Any HTTP/2 client that follows Apple's documentation works against it: see
// [Server.Client] for an *http.Client that trusts it.
package apnstest
