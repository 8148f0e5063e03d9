package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/registry"
)

// The demo's user, phones and app.
const (
	demoUser    = "alice"
	demoIPhone  = "iphone-1"
	demoAndroid = "android-1"
	demoBundle  = "com.example.phone"
	demoIssuer  = "callpush-demo"
	demoAud     = "lpns"
)

// demoEnv is the demo's in-process world: the fakes, the key that signs the
// simulated phone's token, and what the phone received.
type demoEnv struct {
	apns *apnstest.Server
	fcm  *fcmtest.Server
	key  *ecdsa.PrivateKey
	// gone receives the device id of each local connection the server ends.
	gone chan string

	mu    sync.Mutex
	local []lpns.Notification // received by the simulated iPhone
}

// localNotifications returns what the simulated iPhone received.
func (e *demoEnv) localNotifications() []lpns.Notification {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]lpns.Notification(nil), e.local...)
}

func (e *demoEnv) close() {
	e.apns.Close()
	e.fcm.Close()
}

// startDemo starts the fakes and points o and f at them, as the flags of
// real mode would point at the providers.
func startDemo(o *options) (*demoEnv, *files, error) {
	fs, err := fcmtest.Start(fcmtest.Config{})
	if err != nil {
		return nil, nil, fmt.Errorf("fake fcm: %w", err)
	}
	as, err := apnstest.Start(apnstest.Config{Topics: []string{demoBundle}})
	if err != nil {
		fs.Close()
		return nil, nil, fmt.Errorf("fake apns: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fs.Close()
		as.Close()
		return nil, nil, err
	}
	e := &demoEnv{apns: as, fcm: fs, key: key, gone: make(chan string, 4)}
	f := &files{apnsKey: as.AuthKeyPEM(), apnsCA: as.CAPEM(), fcmCredentials: fs.ServiceAccountJSON(), jwtKey: &key.PublicKey}
	o.apnsKeyID, o.apnsTeamID, o.apnsTopic, o.apnsBaseURL = as.KeyID, as.TeamID, demoBundle, as.URL
	o.fcmBaseURL = fs.URL
	o.jwtIssuer, o.jwtAudience = demoIssuer, demoAud
	o.addr = "127.0.0.1:0" // plain ws:// on loopback
	return e, f, nil
}

// phoneToken is the JWT the simulated phone connects with.
func (e *demoEnv) phoneToken(device string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": demoIssuer, "aud": demoAud, "sub": demoUser, "device_id": device,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(e.key)
}

// runDemo runs the whole demo: fakes, local push, a simulated iPhone, two
// calls around the iPhone leaving the Wi-Fi.
func runDemo(ctx context.Context, o *options, out io.Writer, log *slog.Logger, obs *observer) error {
	env, f, err := startDemo(o)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer env.close()
	hooks := lpns.Hooks{OnDisconnect: func(id lpns.Identity, _ int, _ string) {
		select {
		case env.gone <- id.DeviceID:
		default:
		}
	}}
	s, err := start(ctx, o, f, log, hooks)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer s.close(log)
	if obs.demo != nil {
		obs.demo(env)
	}
	fmt.Fprintf(out, "fake APNs on %s, fake FCM on %s, local push on %s\n", env.apns.URL, env.fcm.URL, s.wsURL)
	if err := env.round(ctx, s, out); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// round connects the simulated iPhone, registers alice's phones and places
// the two calls.
func (e *demoEnv) round(ctx context.Context, s *stack, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	phone, err := lpns.Dial(ctx, lpns.ClientConfig{
		URLs:  []string{s.wsURL},
		Token: func(context.Context) (string, error) { return e.phoneToken(demoIPhone) },
		Handler: func(_ context.Context, n lpns.Notification) error {
			e.mu.Lock()
			e.local = append(e.local, n)
			e.mu.Unlock()
			return nil // acknowledged
		},
	})
	if err != nil {
		return fmt.Errorf("simulated iPhone: %w", err)
	}
	defer phone.Close()
	fmt.Fprintf(out, "%s connected over local push (the phone is on the enterprise Wi-Fi)\n", demoIPhone)

	voipToken, fcmToken := randomHex(32), "android:APA91b"+randomHex(24)
	iphone := map[string]string{dispatch.LabelDevice: demoIPhone, dispatch.LabelPlatform: "ios"}
	bindings := []registry.Device{
		{Session: demoUser, Provider: pushwire.ProviderFCM, Token: fcmToken,
			Labels: map[string]string{dispatch.LabelDevice: demoAndroid, dispatch.LabelPlatform: "android"}},
		{Session: demoUser, Provider: pushwire.ProviderLPNS, Token: demoIPhone, Labels: iphone},
		{Session: demoUser, Provider: pushwire.ProviderAPNs, Token: voipToken, AppID: demoBundle, Labels: iphone},
	}
	for _, b := range bindings {
		if _, err := s.reg.Register(ctx, b); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		what := map[pushwire.Provider]string{
			pushwire.ProviderLPNS: "LPNS device id " + b.Token,
			pushwire.ProviderAPNs: "APNs VoIP token " + pushwire.Redact(b.Token) + " of " + b.AppID,
			pushwire.ProviderFCM:  "FCM token " + pushwire.Redact(b.Token),
		}[b.Provider]
		fmt.Fprintf(out, "registered %s's %s: %s\n", demoUser, b.Labels[dispatch.LabelDevice], what)
	}

	if err := e.call(ctx, s, out, "1"); err != nil {
		return err
	}
	// The phone leaves the Wi-Fi: its connection ends, the server notices.
	if err := phone.Close(); err != nil {
		return fmt.Errorf("simulated iPhone: %w", err)
	}
	select {
	case <-e.gone:
	case <-ctx.Done():
		return fmt.Errorf("the server did not notice the iPhone leaving: %w", ctx.Err())
	}
	fmt.Fprintf(out, "\n%s left the Wi-Fi: its local connection is closed\n", demoIPhone)
	return e.call(ctx, s, out, "2")
}

// call places call id to alice, prints a line per device delivery, then
// what the phone and the fakes received for it.
func (e *demoEnv) call(ctx context.Context, s *stack, out io.Writer, id string) error {
	fmt.Fprintf(out, "\n== call %s to %s from Bob (1001)\n", id, demoUser)
	res, err := s.disp.Notify(ctx, demoUser, callMessage(id, "Bob", "1001"))
	if err != nil {
		return fmt.Errorf("call %s: %w", id, err)
	}
	for _, d := range res.Deliveries {
		fmt.Fprintln(out, deliveryLine(id, d))
	}
	for _, n := range e.localNotifications() {
		if payloadCallID(n.Payload, true) == id {
			fmt.Fprintf(out, "  %s received over local push: id=%s payload=%s\n", demoIPhone, n.ID, n.Payload)
		}
	}
	for _, n := range e.apns.Notifications() {
		if payloadCallID(n.Payload, false) == id {
			fmt.Fprintf(out, "  fake APNs received: token=%s push-type=%s topic=%s priority=%d apns-id=%s payload=%s\n",
				pushwire.Redact(n.Token), n.PushType, n.Topic, n.Priority, n.APNsID, n.Payload)
		}
	}
	for _, m := range e.fcm.Messages() {
		if m.Message.Data["callId"] != id {
			continue
		}
		prio := ""
		if m.Message.Android != nil {
			prio = m.Message.Android.Priority
		}
		kind := "data only"
		if m.Message.Notification != nil {
			kind = "with notification"
		}
		fmt.Fprintf(out, "  fake FCM received: token=%s android.priority=%s %s data=%s\n",
			pushwire.Redact(m.Message.Token), prio, kind, sortedData(m.Message.Data))
	}
	c := res.Counts()
	if c.Delivered != len(res.Deliveries) {
		return fmt.Errorf("call %s: %d of %d devices reached", id, c.Delivered, len(res.Deliveries))
	}
	return nil
}

// payloadCallID reads the callId of a notification payload: inside "data"
// for local push, at the top level for APNs.
func payloadCallID(payload []byte, local bool) string {
	if local {
		var p struct {
			Data map[string]string `json:"data"`
		}
		_ = json.Unmarshal(payload, &p)
		return p.Data["callId"]
	}
	var p map[string]any
	_ = json.Unmarshal(payload, &p)
	id, _ := p["callId"].(string)
	return id
}

// sortedData prints a data map with sorted keys.
func sortedData(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%q", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
