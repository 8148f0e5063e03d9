// Package apns holds compatibility tests and benchmarks that compare
// github.com/pushwire/pushwire/apns with github.com/sideshow/apns2 against
// the fake APNs (apns/apnstest, and examples/apnsfake as a separate process).
//
//	cd bench && go test -run '^$' -bench . -benchmem -benchtime 2s -count 3 ./apns
package apns
