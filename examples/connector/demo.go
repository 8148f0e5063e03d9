package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/seal"
)

// demoTopic is the bundle id of the demo's iOS app.
const demoTopic = "com.example.axpdemo"

// demoEnv is the demo's in-process fakes.
type demoEnv struct {
	fcm  *fcmtest.Server
	apns *apnstest.Server
}

// startDemo starts fake FCM and APNs servers and points the options and
// files at them; it makes up a secret and an admin token unless given.
func startDemo(o *options, f *files) (*demoEnv, error) {
	fs, err := fcmtest.Start(fcmtest.Config{})
	if err != nil {
		return nil, fmt.Errorf("fake fcm: %w", err)
	}
	as, err := apnstest.Start(apnstest.Config{Topics: []string{demoTopic}})
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("fake apns: %w", err)
	}
	d := &demoEnv{fcm: fs, apns: as}
	f.fcmCredentials = fs.ServiceAccountJSON()
	o.fcmBaseURL = fs.URL
	f.apnsKey = as.AuthKeyPEM()
	f.apnsCA = as.CAPEM()
	o.apnsKeyID, o.apnsTeamID, o.apnsTopic, o.apnsBaseURL = as.KeyID, as.TeamID, demoTopic, as.URL
	if len(f.secrets) == 0 {
		f.secrets = [][]byte{[]byte(randomHex(16))}
	}
	if f.adminToken == "" {
		f.adminToken = randomHex(16)
	}
	return d, nil
}

func (d *demoEnv) close() {
	d.fcm.Close()
	d.apns.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// demoDevice is a registration the demo makes.
type demoDevice struct {
	what, token, contentType string
	body                     map[string]any
}

// round registers demo devices over HTTP as the sample apps do (and one
// app that registers payload keys), sends one signed callback, reports what
// the fakes received, opens the sealed push with the device's private keys
// as the app would, and prints curl commands.
func (d *demoEnv) round(ctx context.Context, base, configID string, f *files, o *options, out io.Writer, log *slog.Logger) error {
	secret := string(f.secrets[0])
	session := uuid.NewString()
	androidToken := "demo-android:APA91b" + randomHex(40)
	iosFCMToken := "demo-ios:APA91b" + randomHex(40)
	iosAPNsToken := randomHex(32)
	sealedToken := "demo-sealed:APA91b" + randomHex(40)
	// The keys an app makes at sign-in: it keeps the private half and
	// registers the public one, as a Web Push subscription's "keys".
	deviceKeys, err := seal.GenerateKeys()
	if err != nil {
		return err
	}
	p256dh, auth := deviceKeys.Public().Encode()
	devices := []demoDevice{
		// The sample Android app: Retrofit + Moshi, no type.
		{"Android (FCM)", androidToken, "application/json; charset=UTF-8",
			map[string]any{"configId": configID, "sessionId": session}},
		// The sample iOS app: an FCM token with type "iOS".
		{"iOS (FCM)", iosFCMToken, "application/json",
			map[string]any{"configId": configID, "sessionId": session, "type": "iOS"}},
		// An iOS app registering its APNs device token: pushed straight through APNs.
		{"iOS (APNs)", iosAPNsToken, "application/json",
			map[string]any{"configId": configID, "sessionId": session, "type": "iOS"}},
		// An Android app that registers payload keys: its pushes are sealed.
		{"Android (sealed)", sealedToken, "application/json",
			map[string]any{"configId": configID, "sessionId": session,
				"payloadKeys": map[string]string{"p256dh": p256dh, "auth": auth}}},
	}
	fmt.Fprintf(out, "\n== demo ==\nAXP secret of configuration %s: %s\nadmin token: %s\nsession: %s\n\n", configID, secret, f.adminToken, session)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, dev := range devices {
		body, _ := json.Marshal(dev.body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut,
			base+connector.BasePath+"/device-registrations/"+dev.token, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", dev.contentType)
		if f.regToken != "" {
			req.Header.Set("Authorization", "Bearer "+f.regToken)
		}
		status, answer, err := do(client, req)
		if err != nil {
			return fmt.Errorf("register %s: %w", dev.what, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("register %s: status %d: %s", dev.what, status, answer)
		}
		fmt.Fprintf(out, "registered %-16s token %s → %d %s\n", dev.what, pushwire.Redact(dev.token), status, answer)
	}

	eventID := uuid.NewString()
	event := map[string]string{
		"eventId":        eventID,
		"conversationId": uuid.NewString(),
		"customerId":     "demo-customer",
		"sessionId":      session,
		"eventDate":      time.Now().UTC().Format(hmacverify.EventDateLayout),
	}
	body, _ := json.Marshal(event)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+connector.BasePath+"/axp-callback/notifications", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hmacverify.SignatureHeader, hmacverify.Sign([]byte(secret), eventID, session))
	status, answer, err := do(client, req)
	if err != nil {
		return fmt.Errorf("callback: %w", err)
	}
	fmt.Fprintf(out, "\nsigned AXP callback for event %s → %d %s\n", eventID, status, answer)
	if status != http.StatusOK {
		return fmt.Errorf("callback: status %d", status)
	}

	// With -seal-strict only the device with keys is pushed.
	wantFCM, wantAPNs := 3, 1
	if o.sealStrict {
		wantFCM, wantAPNs = 1, 0
		fmt.Fprintf(out, "-seal-strict: the devices without payload keys got nothing\n")
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs, err := d.fcm.WaitForMessages(wctx, wantFCM)
	if err != nil {
		return fmt.Errorf("fake fcm received %d of %d messages: %w", len(d.fcm.Messages()), wantFCM, err)
	}
	var sealed *fcmtest.Received
	for i, m := range msgs {
		kind := "data-only"
		switch {
		case m.Message.Sealed():
			kind = "sealed data-only"
			sealed = &msgs[i]
		case m.Message.APNS != nil:
			kind = "alert + apns mutable-content"
		}
		log.Info("fake FCM received", "token", pushwire.Redact(m.Message.Token), "kind", kind, "sealed", m.Message.Sealed())
		if m.Message.Sealed() {
			ct := m.Message.Data[seal.MemberCiphertext]
			fmt.Fprintf(out, "fake FCM received for token %s: %s, encoding %s, trackingId %s, ciphertext %s (%d characters)\n",
				pushwire.Redact(m.Message.Token), kind, m.Message.Data[seal.MemberEncoding], m.Message.Data[seal.MemberTrackingID],
				truncate(ct, 48), len(ct))
			continue
		}
		fmt.Fprintf(out, "fake FCM received for token %s: %s %s\n", pushwire.Redact(m.Message.Token), kind, m.Raw)
	}
	if wantAPNs > 0 {
		notes, err := d.apns.WaitForNotifications(wctx, wantAPNs)
		if err != nil {
			return fmt.Errorf("fake apns received no notification: %w", err)
		}
		for _, n := range notes {
			log.Info("fake APNs received", "token", pushwire.Redact(n.Token), "topic", n.Topic, "pushType", n.PushType)
			fmt.Fprintf(out, "fake APNs received for token %s (topic %s, %s): %s\n", pushwire.Redact(n.Token), n.Topic, n.PushType, n.Payload)
		}
	}
	switch {
	case sealed != nil:
		content, err := sealed.Message.Open(deviceKeys)
		if err != nil {
			return fmt.Errorf("the sealed push does not open with the device's keys: %w", err)
		}
		plain, _ := json.Marshal(content)
		fmt.Fprintf(out, "\nthe sealed device opened its push with its private key: %s\n", plain)
	case o.seal:
		return fmt.Errorf("the push to the device with payload keys was not sealed")
	default:
		fmt.Fprintf(out, "\n-seal=false: the device with payload keys got its push in the clear\n")
	}

	printCurl(out, base, configID, secret, session, androidToken, f)
	return nil
}

// truncate shortens s to n characters and an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func do(c *http.Client, req *http.Request) (int, string, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// printCurl prints commands that repeat the demo by hand.
func printCurl(out io.Writer, base, configID, secret, session, token string, f *files) {
	eventID := uuid.NewString()
	event := fmt.Sprintf(`{"eventId":"%s","conversationId":"%s","customerId":"demo-customer","sessionId":"%s","eventDate":"%s"}`,
		eventID, uuid.NewString(), session, time.Now().UTC().Format(hmacverify.EventDateLayout))
	auth := ""
	if f.regToken != "" {
		auth = ` -H 'Authorization: Bearer ` + f.regToken + `'`
	}
	fmt.Fprintf(out, "\n== try it by hand ==\n")
	fmt.Fprintf(out, "# register a device, as the sample Android app does:\n")
	fmt.Fprintf(out, "curl -i -X PUT %s%s/device-registrations/%s -H 'Content-Type: application/json'%s -d '{\"configId\":\"%s\",\"sessionId\":\"%s\"}'\n\n",
		base, connector.BasePath, token, auth, configID, session)
	fmt.Fprintf(out, "# send a signed AXP callback (a new eventId each time; the same one again is a duplicate):\n")
	fmt.Fprintf(out, "curl -i %s%s/axp-callback/notifications -H 'Content-Type: application/json' -H 'X-hmac: %s' -d '%s'\n\n",
		base, connector.BasePath, hmacverify.Sign([]byte(secret), eventID, session), event)
	fmt.Fprintf(out, "# X-hmac is hex(HMAC-SHA256(secret, eventId + sessionId)):\n")
	fmt.Fprintf(out, "printf '%%s%%s' %s %s | openssl dgst -sha256 -hmac '%s'\n\n", eventID, session, secret)
	fmt.Fprintf(out, "# the devices of the session:\n")
	fmt.Fprintf(out, "curl -i %s%s/device-registrations:search -H 'Content-Type: application/json'%s -d '{\"sessionId\":\"%s\"}'\n\n",
		base, connector.BasePath, auth, session)
	fmt.Fprintf(out, "# the push configuration (admin; the private key is redacted):\n")
	fmt.Fprintf(out, "curl -i %s%s/configs/%s -H 'Authorization: Bearer %s'\n\n", base, connector.BasePath, configID, f.adminToken)
	fmt.Fprintf(out, "# a test push to the session without a signature (admin route, as the sample's /notifications):\n")
	fmt.Fprintf(out, "curl -i %s%s/notifications -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"sessionId\":\"%s\",\"message\":{\"data\":{}}}'\n\n",
		base, connector.BasePath, f.adminToken, session)
	fmt.Fprintf(out, "# health and readiness (Prometheus metrics: add -metrics-addr 127.0.0.1:9464):\ncurl %s/healthz; curl %s/readyz\n", base, base)
}
