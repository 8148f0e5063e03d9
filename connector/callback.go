package connector

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// CallbackResult is the JSON answer to a callback. It is a plain value.
type CallbackResult struct {
	EventID   string `json:"eventId"`
	SessionID string `json:"sessionId"`
	// Delivered counts the devices whose provider accepted the push.
	Delivered int `json:"delivered"`
	// Failed counts the devices whose push failed (including dead tokens).
	Failed int `json:"failed"`
	// Pruned counts the dead tokens removed from the registry.
	Pruned int `json:"pruned"`
	// Duplicate is true when the event was already handled; nothing was sent.
	Duplicate bool `json:"duplicate,omitempty"`
}

// appendJSON appends r as JSON, as encoding/json would write it. The ids
// were validated (letters, digits, "_.-"), so they need no escaping.
func (r CallbackResult) appendJSON(b []byte) []byte {
	b = append(b, `{"eventId":"`...)
	b = append(b, r.EventID...)
	b = append(b, `","sessionId":"`...)
	b = append(b, r.SessionID...)
	b = append(b, `","delivered":`...)
	b = strconv.AppendInt(b, int64(r.Delivered), 10)
	b = append(b, `,"failed":`...)
	b = strconv.AppendInt(b, int64(r.Failed), 10)
	b = append(b, `,"pruned":`...)
	b = strconv.AppendInt(b, int64(r.Pruned), 10)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}\n"...)
}

// Status is the HTTP status of the answer to a callback with this result:
// 500 when nothing was delivered and some failure was not a dead token that
// has been pruned, else 200.
func (r CallbackResult) Status() int {
	if r.Delivered == 0 && r.Failed > r.Pruned {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

const maxFieldLen = 256

// ValidateEvent checks what the connector requires of an event beyond what
// [hmacverify.ParseEvent] does: eventId and sessionId are ids (see
// [ValidateID]), and conversationId and customerId at most 256 bytes of
// printable text. eventDate and the extra members are not checked: they are
// forwarded as received.
func ValidateEvent(ev hmacverify.Event) error {
	if err := validateEventIDs(ev); err != nil {
		return err
	}
	if len(ev.ConversationID) > maxFieldLen || !printable(ev.ConversationID) {
		return errors.New("conversationId: must be at most 256 bytes of printable text")
	}
	if len(ev.CustomerID) > maxFieldLen || !printable(ev.CustomerID) {
		return errors.New("customerId: must be at most 256 bytes of printable text")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return false
		}
	}
	return true
}

// Alert text of the iOS notification built by [DefaultMessage]; the app's
// notification service extension replaces it with the message content.
const (
	DefaultAlertTitle = "New message"
	DefaultAlertBody  = "You have a new message"
)

// MaxDataBytes bounds the data [DefaultMessage] puts in a message, measured
// as its JSON encoding: the AXP members always go, and the extra members are
// added, in order of name, only while the data stays within it. It leaves
// room within FCM's and APNs's 4096-byte limits for the token, the alert and
// the provider's own fields.
const MaxDataBytes = 2048

// DefaultMessage is the default [Config.BuildMessage]: a data-only message
// with the AXP members (eventId, conversationId, customerId, sessionId,
// eventDate as received; empty ones left out) and the event's extra string
// members (channel, engagementId, dialogId, ...; see [MaxDataBytes], and
// [Config.DropExtraMembers]) at high priority; for an iOS device an alert
// with MutableContent carrying the same data. Extra members whose name FCM
// or APNs reserve ("from", "message_type", "google.*", "gcm.*", "aps") or
// that are empty are left out.
func DefaultMessage(ev hmacverify.Event, d registry.Device) pushwire.Message {
	data := make(map[string]string, 5+len(ev.Extra))
	size := 1 // "{}", less the comma the first member does not have
	put := func(k, v string) bool {
		if v == "" {
			return true
		}
		n := jsonLen(k) + jsonLen(v) + 2 // "k":"v",
		if len(data) > 0 && size+n > MaxDataBytes && !axpMember(k) {
			return false
		}
		data[k] = v
		size += n
		return true
	}
	put("eventId", ev.EventID)
	put("conversationId", ev.ConversationID)
	put("customerId", ev.CustomerID)
	put("sessionId", ev.SessionID)
	put("eventDate", ev.EventDate)
	if len(ev.Extra) > 0 {
		for _, k := range slices.Sorted(maps.Keys(ev.Extra)) {
			if k != "" && !reservedDataKey(k) {
				put(k, ev.Extra[k])
			}
		}
	}
	m := pushwire.Message{Token: d.Token, Kind: pushwire.KindData, Data: data, Priority: pushwire.PriorityHigh}
	if IsIOS(d.Labels[LabelType]) {
		m.Kind = pushwire.KindAlert
		m.Title, m.Body = DefaultAlertTitle, DefaultAlertBody
		m.MutableContent = true
	}
	return m
}

func axpMember(k string) bool {
	switch k {
	case "eventId", "conversationId", "customerId", "sessionId", "eventDate":
		return true
	}
	return false
}

// reservedDataKey reports whether FCM refuses k as a data key or APNs
// would take it for its own dictionary.
func reservedDataKey(k string) bool { return fcm.ReservedDataKey(k) || k == "aps" }

// jsonLen returns the length of s encoded as a JSON string.
func jsonLen(s string) int {
	n := 2
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029:
			n += 6
		case r == utf8.RuneError:
			n += 3
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

func (c *Connector) handleCallback(w http.ResponseWriter, r *http.Request) {
	if !jsonContentType(r) {
		// 400, not 415: AXP does not back off on it.
		c.log.Info("malformed callback", "err", errContentType)
		writeMessage(w, http.StatusBadRequest, errContentType.Error())
		return
	}
	ev, _, err := hmacverify.ReadEvent(w, r, c.limits)
	if err == nil {
		err = ValidateEvent(ev)
	}
	if err != nil {
		status := hmacverify.StatusCode(err)
		if status == http.StatusInternalServerError { // ValidateEvent's errors
			status = http.StatusBadRequest
		}
		if status == http.StatusRequestTimeout {
			c.log.Info("callback body too slow", "client", c.cfg.ClientAddr(r))
		} else {
			c.log.Info("malformed callback", "err", err)
		}
		writeMessage(w, status, strings.TrimPrefix(err.Error(), "hmacverify: "))
		return
	}
	sig := hmacverify.Signature(r.Header)
	if sig == "" {
		c.log.Info("callback without signature", "eventId", ev.EventID, "client", c.cfg.ClientAddr(r))
		writeMessage(w, http.StatusUnauthorized, "missing X-hmac header")
		return
	}
	ctx := r.Context()
	devs, err := c.reg.Lookup(ctx, ev.SessionID)
	if err != nil {
		c.internalError(w, "session lookup", err)
		return
	}
	configs, err := c.configsOf(ctx, devs)
	if err != nil {
		c.internalError(w, "configuration lookup", err)
		return
	}
	var verified bool
	if len(configs) == 0 {
		// No device, or none whose configuration still exists: any
		// configuration's secret is accepted, so that the answer tells
		// nothing about registrations, and nothing is sent (devices whose
		// configuration was deleted get nothing).
		if len(devs) > 0 {
			c.log.Info("the session's devices belong to deleted configurations", "eventId", ev.EventID, "sessionId", ev.SessionID, "devices", len(devs))
		}
		devs = nil
		var all [][]byte
		if all, err = c.allSecrets(ctx); err != nil {
			c.internalError(w, "configuration lookup", err)
			return
		}
		if len(all) == 0 {
			c.log.Error("callback refused: no axp secret is configured", "eventId", ev.EventID)
			writeMessage(w, http.StatusUnauthorized, "invalid X-hmac signature")
			return
		}
		verified = hmacverify.VerifyAny(all, ev.EventID, ev.SessionID, sig) == nil
	} else {
		// Only the devices of a configuration whose secret signed the
		// callback receive it: one configuration's secret never reaches
		// another's devices, even in a shared session, and devices of a
		// deleted configuration get nothing.
		configs = configs.signedBy(ev, sig)
		devs = configs.devices(devs)
		verified = len(configs) > 0
	}
	if !verified {
		c.log.Info("callback with a bad signature", "eventId", ev.EventID, "client", c.cfg.ClientAddr(r))
		writeMessage(w, http.StatusUnauthorized, "invalid X-hmac signature")
		return
	}
	res := c.deliver(ctx, ev, devs, configs)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(res.Status())
	_, _ = w.Write(res.appendJSON(make([]byte, 0, 160)))
}

// configsOf returns the existing configurations of devs.
func (c *Connector) configsOf(ctx context.Context, devs []registry.Device) (configSet, error) {
	var configs configSet
	for _, d := range devs {
		id := d.Labels[LabelConfigID]
		if _, done := configs.get(id); done || id == "" {
			continue
		}
		pc, err := c.configs.Get(ctx, id)
		if errors.Is(err, ErrConfigNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		configs = append(configs, pc)
	}
	return configs, nil
}

// configSet is the few configurations of one session's devices (usually
// one), searched linearly.
type configSet []PushConfig

func (s configSet) get(id string) (PushConfig, bool) {
	for _, pc := range s {
		if pc.ID == id {
			return pc, true
		}
	}
	return PushConfig{}, false
}

// signedBy returns the configurations with a secret that signed ev. Every
// secret is checked, so the time taken does not tell which matched.
func (s configSet) signedBy(ev hmacverify.Event, sig string) configSet {
	out := s[:0:0]
	for _, pc := range s {
		if len(pc.Secrets) > 0 && hmacverify.VerifyAny(pc.Secrets, ev.EventID, ev.SessionID, sig) == nil {
			out = append(out, pc)
		}
	}
	if len(out) == len(s) {
		return s
	}
	return out
}

// devices returns the devices of devs registered with one of s (devs itself
// when that is all of them).
func (s configSet) devices(devs []registry.Device) []registry.Device {
	var out []registry.Device
	for i, d := range devs {
		_, ok := s.get(d.Labels[LabelConfigID])
		switch {
		case !ok && out == nil:
			out = append(make([]registry.Device, 0, len(devs)-1), devs[:i]...)
		case ok && out != nil:
			out = append(out, d)
		}
	}
	if out == nil {
		return devs
	}
	return out
}

// validateEventIDs checks an event's eventId and sessionId; the error names
// the member.
func validateEventIDs(ev hmacverify.Event) error {
	if err := validateID(ev.EventID); err != nil {
		return errors.New("eventId: " + err.Error())
	}
	if err := validateID(ev.SessionID); err != nil {
		return errors.New("sessionId: " + err.Error())
	}
	return nil
}

// Deliver pushes ev to every live device of its session, prunes the dead
// tokens and returns the summary, exactly as a verified callback does
// (including duplicate suppression). It does not check any signature: use it
// for events that reach the application by another trusted path.
func (c *Connector) Deliver(ctx context.Context, ev hmacverify.Event) (CallbackResult, error) {
	if err := validateEventIDs(ev); err != nil {
		return CallbackResult{}, errors.New("connector: " + err.Error())
	}
	devs, err := c.reg.Lookup(ctx, ev.SessionID)
	if err != nil {
		return CallbackResult{}, err
	}
	configs, err := c.configsOf(ctx, devs)
	if err != nil {
		return CallbackResult{}, err
	}
	return c.deliver(ctx, ev, devs, configs), nil
}

// deliver sends ev to devs in parallel within the delivery deadline.
func (c *Connector) deliver(ctx context.Context, ev hmacverify.Event, devs []registry.Device, configs configSet) CallbackResult {
	res := CallbackResult{EventID: ev.EventID, SessionID: ev.SessionID}
	if c.cfg.DropExtraMembers {
		ev.Extra = nil
	}
	key := ev.EventID + "\x00" + ev.SessionID
	already, err := c.dedupe.Seen(ctx, key, c.cfg.Now().Add(c.cfg.DedupeTTL))
	if err != nil {
		// Fail open: a duplicate push is better than a lost one.
		c.log.Warn("dedupe failed", "eventId", ev.EventID, "err", err)
		already = false
	}
	if already {
		c.log.Info("duplicate callback ignored", "eventId", ev.EventID, "sessionId", ev.SessionID)
		c.metrics.Callback("duplicate")
		res.Duplicate = true
		return res
	}
	if len(devs) == 0 {
		c.log.Info("no device for session", "eventId", ev.EventID, "sessionId", ev.SessionID)
		c.metrics.Callback("no_device")
		return res
	}

	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		res.Failed = len(devs)
		_ = c.dedupe.Forget(ctx, key)
		c.metrics.Callback("failed")
		return res
	}
	c.wg.Add(1)
	c.mu.RUnlock()
	defer c.wg.Done()

	// The push goes on when the caller hangs up: AXP will not send it again.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DeliveryTimeout)
	defer cancel()
	errs := make([]error, len(devs))
	if len(devs) == 1 {
		errs[0] = c.sendOne(dctx, ev, devs[0], configs)
	} else {
		var wg sync.WaitGroup
		for i := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = c.sendOne(dctx, ev, devs[i], configs)
			}()
		}
		wg.Wait()
	}

	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer pcancel()
	for i, err := range errs {
		switch {
		case err == nil:
			res.Delivered++
		case errors.Is(err, pushwire.ErrDeadToken):
			res.Failed++
			if c.prune(pctx, devs[i], err) {
				res.Pruned++
			}
		default:
			res.Failed++
		}
	}
	switch {
	case res.Delivered > 0:
		c.metrics.Callback("delivered")
	case res.Status() == http.StatusOK:
		c.metrics.Callback("pruned")
	default:
		c.metrics.Callback("failed")
		// Let a manual re-send try again.
		if err := c.dedupe.Forget(pctx, key); err != nil {
			c.log.Warn("dedupe forget failed", "eventId", ev.EventID, "err", err)
		}
	}
	return res
}

// sendOne pushes ev to d and logs the outcome.
func (c *Connector) sendOne(ctx context.Context, ev hmacverify.Event, d registry.Device, configs configSet) error {
	start := c.cfg.Now()
	msg := c.build(ev, d)
	if msg.Token == "" {
		msg.Token = d.Token
	}
	var err error
	switch d.Provider {
	case pushwire.ProviderAPNs:
		err = c.sendAPNs(ctx, d, configs, msg)
	default:
		id := d.Labels[LabelConfigID]
		pc, ok := configs.get(id)
		if !ok {
			err = &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderFCM, Reason: "NoConfiguration",
				Err: errors.New("configuration " + truncate(id, 64) + " does not exist")}
			break
		}
		s, release, ferr := c.fcmSender(ctx, pc)
		if err = ferr; err == nil {
			err = s.Send(ctx, msg)
			release()
		}
	}
	took := c.cfg.Now().Sub(start)
	outcome := outcomeOf(err)
	c.metrics.Delivery(d.Provider, outcome, took)
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.String("provider", string(d.Provider)),
		slog.String("token", pushwire.Redact(d.Token)),
		slog.String("eventId", ev.EventID),
		slog.String("sessionId", ev.SessionID),
		slog.String("outcome", outcome),
		slog.Duration("latency", took),
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	c.log.LogAttrs(ctx, level, "delivery", attrs...)
	return err
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeDelivered
	case errors.Is(err, pushwire.ErrDeadToken):
		return OutcomeDead
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return OutcomeTimeout
	case errors.Is(err, pushwire.ErrRetryable):
		return OutcomeRetryable
	default:
		return OutcomePermanent
	}
}

// prune removes a token its provider reported dead, but only if it was not
// registered again since: since the provider's "dead since" time when it gives
// one, else since the binding this delivery read (so a re-registration that
// raced the failed send survives).
func (c *Connector) prune(ctx context.Context, d registry.Device, cause error) bool {
	asOf := d.UpdatedAt
	if since, ok := pushwire.DeadSince(cause); ok {
		asOf = since
	}
	removed, err := c.reg.Invalidate(ctx, d.Key(), asOf)
	if err != nil {
		c.log.Warn("pruning a dead token failed", "provider", d.Provider, "token", pushwire.Redact(d.Token), "err", err)
		return false
	}
	if removed {
		c.metrics.Pruned(d.Provider)
		c.log.Info("dead token pruned", "provider", d.Provider, "token", pushwire.Redact(d.Token), "sessionId", d.Session)
	}
	return removed
}

// handleTestPush serves the sample's test route, admin only:
// POST /custom-notification-connector/notifications with
// {"sessionId": "...", "message": {"data": {"eventId": ..., ...}}}. The data's
// AXP fields (eventId, conversationId, customerId, eventDate) make the event
// (a new eventId when absent; other data members are ignored, as they are
// not AXP's), which is then
// delivered like a verified callback, with the same answer.
func (c *Connector) handleTestPush(w http.ResponseWriter, r *http.Request) {
	var b struct {
		SessionID *string `json:"sessionId"`
		Message   struct {
			Data map[string]string `json:"data"`
		} `json:"message"`
	}
	if !c.readJSON(w, r, &b) {
		return
	}
	if b.SessionID == nil {
		writeMessage(w, http.StatusBadRequest, "sessionId is required")
		return
	}
	data := b.Message.Data
	if data["eventId"] == "" {
		data = maps.Clone(data)
		if data == nil {
			data = map[string]string{}
		}
		data["eventId"] = uuid.NewString()
	}
	ev := hmacverify.Event{EventID: data["eventId"], ConversationID: data["conversationId"], CustomerID: data["customerId"],
		SessionID: *b.SessionID, EventDate: data["eventDate"]}
	if err := ValidateEvent(ev); err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := c.Deliver(r.Context(), ev)
	if err != nil {
		c.internalError(w, "test push", err)
		return
	}
	c.log.Info("test push", "eventId", ev.EventID, "sessionId", ev.SessionID, "delivered", res.Delivered, "failed", res.Failed)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(res.Status())
	_, _ = w.Write(res.appendJSON(make([]byte, 0, 160)))
}
