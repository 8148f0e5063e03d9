// Package fcm holds benchmarks and compatibility tests that compare
// github.com/pushwire/pushwire/fcm with firebase.google.com/go/v4/messaging
// against the fake FCM (examples/fcmfake) running as a separate process.
//
//	cd bench && go test -run '^$' -bench . -benchmem -count 6 ./fcm
package fcm
