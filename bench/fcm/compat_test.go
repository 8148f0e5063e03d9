package fcm

import (
	"context"
	"strings"
	"testing"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// newFirebase builds a Firebase Admin SDK messaging client for the fake: the
// service-account JSON's token_uri points at the fake, and
// option.WithEndpoint replaces https://fcm.googleapis.com/v1.
func newFirebase(tb testing.TB, f *fakeProc) *messaging.Client {
	tb.Helper()
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: "fcmtest-project"},
		option.WithCredentialsJSON(f.Creds),
		option.WithEndpoint(f.URL+"/v1"),
	)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := app.Messaging(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestFirebaseAdminSDKAgainstFake(t *testing.T) {
	f := startFake(t, false)
	c := newFirebase(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ttl := 90 * time.Second
	name, err := c.Send(ctx, &messaging.Message{
		Token:        "firebase-device-1",
		Data:         map[string]string{"eventId": "e-1", "sessionId": "s-1"},
		Notification: &messaging.Notification{Title: "Hello", Body: "from the Admin SDK"},
		Android: &messaging.AndroidConfig{Priority: "high", TTL: &ttl, CollapseKey: "chat",
			Notification: &messaging.AndroidNotification{ChannelID: "calls", Color: "#112233"}},
		APNS: &messaging.APNSConfig{Headers: map[string]string{"apns-priority": "10"},
			Payload: &messaging.APNSPayload{Aps: &messaging.Aps{MutableContent: true}}},
		FCMOptions: &messaging.FCMOptions{AnalyticsLabel: "compat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "projects/fcmtest-project/messages/") {
		t.Fatalf("unexpected name %q", name)
	}
	var line map[string]any
	select {
	case line = <-f.Lines:
	case <-ctx.Done():
		t.Fatal("the fake printed no message")
	}
	if line["project"] != "fcmtest-project" {
		t.Errorf("project = %v", line["project"])
	}
	msg, _ := line["message"].(map[string]any)
	if msg["token"] != "firebase-device-1" {
		t.Errorf("token = %v", msg["token"])
	}
	data, _ := msg["data"].(map[string]any)
	if data["sessionId"] != "s-1" {
		t.Errorf("data = %v", data)
	}
	android, _ := msg["android"].(map[string]any)
	if android["ttl"] != "90s" || android["priority"] != "high" || android["collapse_key"] != "chat" {
		t.Errorf("android = %v", android)
	}

	// Validation by the fake reaches the SDK as FCM's error.
	_, err = c.Send(ctx, &messaging.Message{Token: "bad token with spaces"})
	if err == nil || !messaging.IsInvalidArgument(err) {
		t.Fatalf("want an invalid-argument error, got %v", err)
	}
	// Dry run.
	name, err = c.SendDryRun(ctx, &messaging.Message{Topic: "news"})
	if err != nil || !strings.HasSuffix(name, "fake_message_id") {
		t.Fatalf("dry run: %q %v", name, err)
	}
}
