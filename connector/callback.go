package connector

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/fcm"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/registry"
)

// CallbackResult is the JSON answer to a callback: what this callback pushed.
// It is a plain value.
type CallbackResult struct {
	EventID   string `json:"eventId"`
	SessionID string `json:"sessionId"`
	// Delivered counts the devices whose provider accepted the push.
	Delivered int `json:"delivered"`
	// Failed counts the devices whose push definitely failed (including
	// dead tokens).
	Failed int `json:"failed"`
	// Unknown counts the devices whose push may have reached the provider:
	// the request was written and its answer never came (the deadline
	// passed, the connection broke). They are never pushed again.
	Unknown int `json:"unknown"`
	// Pruned counts the dead tokens removed from the registry.
	Pruned int `json:"pruned"`
	// Duplicate is true when the event was already handled and no device
	// of it was to be pushed again; nothing was sent.
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
	b = append(b, `,"unknown":`...)
	b = strconv.AppendInt(b, int64(r.Unknown), 10)
	b = append(b, `,"pruned":`...)
	b = strconv.AppendInt(b, int64(r.Pruned), 10)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}\n"...)
}

// Status is the HTTP status of the answer to a callback with this result
// (the package documentation has the table):
//
//   - 200 when some device accepted the push;
//   - else 500 when some push definitely failed (a dead token that was not
//     pruned counts as a failure);
//   - else 202 when some outcome is unknown (the push may have arrived);
//   - else 200: nothing to push, a duplicate, or only dead tokens, pruned.
func (r CallbackResult) Status() int {
	switch {
	case r.Delivered > 0:
		return http.StatusOK
	case r.Failed > r.Pruned:
		return http.StatusInternalServerError
	case r.Unknown > 0:
		return http.StatusAccepted
	}
	return http.StatusOK
}

// callbackResult is the result passed to [Metrics.Callback] for a delivery.
func (r CallbackResult) callbackResult() string {
	switch r.Status() {
	case http.StatusInternalServerError:
		return CallbackFailed
	case http.StatusAccepted:
		return CallbackUnknown
	}
	if r.Delivered > 0 {
		return CallbackDelivered
	}
	return CallbackPruned
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
	// At the limit: refuse before reading anything (it is checked again,
	// for real, once the callback is read).
	if c.inflight.full() {
		c.limitedLog.record(r.Context(), slog.String("limit", "concurrency"))
		writeOverloaded(w)
		return
	}
	if !jsonContentType(r) {
		// 400, not 415: AXP does not back off on it.
		c.malformedLog.record(r.Context(), slog.String("err", errContentType.Error()))
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
			c.malformedLog.record(r.Context(), slog.String("err", "body too slow"), slog.String("client", c.cfg.ClientAddr(r)))
		} else {
			c.malformedLog.record(r.Context(), slog.String("err", err.Error()))
		}
		writeMessage(w, status, strings.TrimPrefix(err.Error(), "hmacverify: "))
		return
	}
	// A missing or malformed signature is refused before any lookup.
	sig := hmacverify.Signature(r.Header)
	if sig == "" {
		c.badSigLog.record(r.Context(), slog.String("eventId", ev.EventID), slog.String("client", c.cfg.ClientAddr(r)), slog.String("why", "missing"))
		writeMessage(w, http.StatusUnauthorized, "missing X-hmac header")
		return
	}
	if !wellFormedSignature(sig) {
		c.badSigLog.record(r.Context(), slog.String("eventId", ev.EventID), slog.String("client", c.cfg.ClientAddr(r)), slog.String("why", "malformed"))
		writeMessage(w, http.StatusUnauthorized, "invalid X-hmac signature")
		return
	}
	if !c.inflight.acquire() {
		c.limitedLog.record(r.Context(), slog.String("limit", "concurrency"))
		writeOverloaded(w)
		return
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		c.inflight.release()
		w.Header().Set("Retry-After", "1")
		writeMessage(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	c.work.Add(1)
	c.mu.RUnlock()

	// The work runs apart so that the answer leaves by the callback's
	// deadline even if something it calls ignores its context; it keeps
	// its place in MaxConcurrency until it returns, and frees it before
	// handing its answer over: an answered callback holds no place.
	client := c.cfg.ClientAddr(r)
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.CallbackTimeout)
	defer cancel()
	done := make(chan callbackAnswer, 1)
	prog := new(progress)
	go func() {
		defer c.work.Done()
		a := c.callback(ctx, ev, sig, client, prog)
		c.inflight.release()
		done <- a
	}()
	var a callbackAnswer
	select {
	case a = <-done:
	case <-ctx.Done():
		select {
		case a = <-done: // finished at the same moment
		default:
			if r.Context().Err() != nil {
				return // the client hung up: nobody to answer
			}
			a = c.late(ev, prog)
		}
	}
	a.write(w)
}

// Stages of a callback's work, as [progress] tells them.
const (
	stageVerifying  int32 = iota // lookups and signature check: nothing pushed yet
	stageDelivering              // claimed (or claiming): pushes may be under way
	stageAbandoned               // answered before delivery began: it never will
)

// progress is how far a callback's work went, shared between the work and
// the handler that answers at the callback's deadline when the work has
// not finished.
type progress struct {
	stage   atomic.Int32
	devices atomic.Int64                   // devices being pushed, from stageDelivering
	result  atomic.Pointer[CallbackResult] // the delivery's result, once known
}

// deliver reports whether the work may deliver: false when the handler
// already answered that it will not. A nil progress always may.
func (p *progress) deliver(devices int) bool {
	if p == nil {
		return true
	}
	p.devices.Store(int64(devices))
	return p.stage.CompareAndSwap(stageVerifying, stageDelivering)
}

func (p *progress) pushing(devices int) {
	if p != nil {
		p.devices.Store(int64(devices))
	}
}

func (p *progress) delivered(res CallbackResult) {
	if p != nil {
		p.result.Store(&res)
	}
}

// late is the answer of a callback whose work did not finish within
// CallbackTimeout. Before delivery began, the work is stopped from
// delivering (its delivery deadline has passed anyway) and the answer is
// 500: nothing was pushed, so a re-send can deliver. Once delivery began,
// the outcome of the pushes under way is not known yet: the answer is 202
// with those devices counted unknown (the delivery's own answer when only
// the record of its outcomes is late). That is the truth, and what the
// event memory keeps: the claimed devices are unknown until the work
// records them, and a re-send pushes one again only if the work finds its
// push definitely failed for a temporary reason.
func (c *Connector) late(ev hmacverify.Event, p *progress) callbackAnswer {
	if p.stage.CompareAndSwap(stageVerifying, stageAbandoned) {
		c.log.Error("callback not verified within the callback timeout; nothing was pushed", "eventId", ev.EventID,
			"sessionId", ev.SessionID, "timeout", c.cfg.CallbackTimeout)
		return callbackAnswer{status: http.StatusInternalServerError, msg: "callback timed out"}
	}
	if res := p.result.Load(); res != nil {
		c.log.Warn("outcomes of a callback not recorded within the callback timeout; answered with its result", "eventId", ev.EventID,
			"sessionId", ev.SessionID, "timeout", c.cfg.CallbackTimeout)
		return callbackAnswer{status: res.Status(), res: res}
	}
	res := CallbackResult{EventID: ev.EventID, SessionID: ev.SessionID, Unknown: int(p.devices.Load())}
	c.log.Error("callback delivery not finished within the callback timeout; its outcome is unknown", "eventId", ev.EventID,
		"sessionId", ev.SessionID, "devices", res.Unknown, "timeout", c.cfg.CallbackTimeout)
	return callbackAnswer{status: http.StatusAccepted, res: &res}
}

// callbackAnswer is what a callback is answered: a delivery result, or a
// message.
type callbackAnswer struct {
	status     int
	res        *CallbackResult
	msg        string
	retryAfter time.Duration
}

func (a callbackAnswer) write(w http.ResponseWriter) {
	if a.res != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.res.appendJSON(make([]byte, 0, 160)))
		return
	}
	if a.status == http.StatusTooManyRequests {
		writeTooMany(w, a.retryAfter, a.msg)
		return
	}
	writeMessage(w, a.status, a.msg)
}

// wellFormedSignature reports whether sig can be an X-hmac value: 64
// hexadecimal digits (HMAC-SHA256).
func wellFormedSignature(sig string) bool {
	if len(sig) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(sig); i++ {
		switch b := sig[i]; {
		case '0' <= b && b <= '9', 'a' <= b && b <= 'f', 'A' <= b && b <= 'F':
		default:
			return false
		}
	}
	return true
}

// callback checks the signature of a well-formed callback against the
// configurations of its session's devices and delivers it.
func (c *Connector) callback(ctx context.Context, ev hmacverify.Event, sig, client string, prog *progress) callbackAnswer {
	if ids, ok := c.sessions.get(ev.SessionID); ok {
		// A session seen recently: its configurations tell, without a
		// registry query, whether the signature can be right.
		good, err := c.signedByAny(ctx, ev, sig, ids)
		if err != nil {
			return c.failed(ctx, "configuration lookup", err)
		}
		if !good {
			return c.badSignature(ctx, ev, client)
		}
	} else if c.badSig != nil {
		if blocked, wait := c.badSig.blocked(client); blocked {
			c.limitedLog.record(ctx, slog.String("limit", "bad signatures"), slog.String("client", client))
			return callbackAnswer{status: http.StatusTooManyRequests, msg: "too many callbacks with a bad signature", retryAfter: wait}
		}
	}
	devs, err := c.reg.Lookup(ctx, ev.SessionID)
	if err != nil {
		return c.failed(ctx, "session lookup", err)
	}
	configs, err := c.configsOf(ctx, devs)
	if err != nil {
		return c.failed(ctx, "configuration lookup", err)
	}
	c.sessions.put(ev.SessionID, configs)
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
			return c.failed(ctx, "configuration lookup", err)
		}
		if len(all) == 0 {
			c.log.Error("callback refused: no axp secret is configured", "eventId", ev.EventID)
			return callbackAnswer{status: http.StatusUnauthorized, msg: "invalid X-hmac signature"}
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
		return c.badSignature(ctx, ev, client)
	}
	res := c.deliver(ctx, ev, devs, configs, prog)
	return callbackAnswer{status: res.Status(), res: &res}
}

// signedByAny reports whether one of configurations ids (every
// configuration when none of them exists) has a secret that signed ev.
func (c *Connector) signedByAny(ctx context.Context, ev hmacverify.Event, sig string, ids []string) (bool, error) {
	var configs configSet
	for _, id := range ids {
		pc, err := c.configs.Get(ctx, id)
		if errors.Is(err, ErrConfigNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		configs = append(configs, pc)
	}
	if len(configs) > 0 {
		return len(configs.signedBy(ev, sig)) > 0, nil
	}
	all, err := c.allSecrets(ctx)
	if err != nil {
		return false, err
	}
	return len(all) > 0 && hmacverify.VerifyAny(all, ev.EventID, ev.SessionID, sig) == nil, nil
}

// badSignature refuses a callback whose signature no configuration's
// secret produced, and counts it against the client's address.
func (c *Connector) badSignature(ctx context.Context, ev hmacverify.Event, client string) callbackAnswer {
	if c.badSig != nil {
		c.badSig.allow(client)
	}
	c.badSigLog.record(ctx, slog.String("eventId", ev.EventID), slog.String("client", client), slog.String("why", "no secret matches"))
	return callbackAnswer{status: http.StatusUnauthorized, msg: "invalid X-hmac signature"}
}

// failed answers 500 for a failed lookup.
func (c *Connector) failed(ctx context.Context, what string, err error) callbackAnswer {
	c.log.LogAttrs(ctx, slog.LevelError, what+" failed", slog.String("err", err.Error()))
	return callbackAnswer{status: http.StatusInternalServerError, msg: what + " failed"}
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
	return c.deliver(ctx, ev, devs, configs, nil), nil
}

// recordTimeout bounds the write of an event's outcomes after its delivery.
const recordTimeout = 2 * time.Second

// deliver claims ev in the de-duplication store, delivers it through the
// dispatcher to devs (all of them for a new event, the retryable ones of a
// known event), within the delivery deadline, and records the outcomes. It
// tells prog (nil for none) how far it went; it claims and pushes nothing
// when the delivery deadline has already passed or prog says the callback
// was answered without it.
func (c *Connector) deliver(ctx context.Context, ev hmacverify.Event, devs []registry.Device, configs configSet, prog *progress) CallbackResult {
	res := CallbackResult{EventID: ev.EventID, SessionID: ev.SessionID}
	if c.cfg.DropExtraMembers {
		ev.Extra = nil
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		res.Failed = len(devs)
		c.metrics.Callback(CallbackFailed)
		return res
	}
	c.wg.Add(1)
	c.mu.RUnlock()
	defer c.wg.Done()

	// The push goes on when the caller hangs up: AXP will not send it again.
	bg := context.WithoutCancel(ctx)
	dctx, cancel := c.deliveryContext(ctx)
	defer cancel()
	if dctx.Err() != nil || !prog.deliver(len(devs)) {
		// Too late: nothing is claimed, so a re-send delivers.
		c.log.Warn("no time left to deliver the callback; nothing was pushed", "eventId", ev.EventID, "sessionId", ev.SessionID)
		res.Failed = len(devs)
		if len(devs) == 0 {
			c.metrics.Callback(CallbackNoDevice)
		} else {
			c.metrics.Callback(CallbackFailed)
		}
		return res
	}
	key := eventKey(ev.EventID, ev.SessionID)
	claim, err := c.dedupe.Claim(dctx, key, c.cfg.DedupeTTL)
	if err != nil {
		// Fail open: a duplicate push is better than a lost one.
		c.log.Warn("de-duplication store failed; delivering anyway", "eventId", ev.EventID, "sessionId", ev.SessionID, "err", err)
		claim = Claim{New: true}
	}
	if claim.Duplicate() {
		c.log.Info("duplicate callback ignored", "eventId", ev.EventID, "sessionId", ev.SessionID)
		c.metrics.Callback(CallbackDuplicate)
		res.Duplicate = true
		return res
	}
	outcomes := make(map[string]DeviceOutcome, len(devs))
	targets := devs
	if !claim.New {
		targets = retryTargets(devs, claim.Retry, outcomes)
		prog.pushing(len(targets))
		c.log.Info("callback sent again: pushing to the devices whose push failed for a temporary reason",
			"eventId", ev.EventID, "sessionId", ev.SessionID, "devices", len(targets))
	}
	if len(targets) == 0 {
		if claim.New {
			c.log.Info("no device for session", "eventId", ev.EventID, "sessionId", ev.SessionID)
			c.metrics.Callback(CallbackNoDevice)
		} else {
			// The devices to push again left the session.
			c.record(bg, ev, key, outcomes)
			c.metrics.Callback(CallbackDuplicate)
			res.Duplicate = true
		}
		return res
	}

	call := context.WithValue(dctx, callKey{}, &callInfo{eventID: ev.EventID, configs: configs})
	r, err := c.disp.NotifyDevices(call, targets, c.message(ev))
	if err != nil {
		// Nothing was tried (the dispatcher is closed).
		c.log.Warn("delivery refused", "eventId", ev.EventID, "err", err)
		for _, d := range targets {
			outcomes[deviceKey(d.Key())] = DeviceRetryable
		}
		res.Failed = len(targets)
	} else {
		n := r.Counts()
		res.Delivered, res.Failed, res.Unknown, res.Pruned = n.Delivered, n.Failed+n.Dead, n.Unknown, n.Pruned
		for i := range r.Deliveries {
			dv := &r.Deliveries[i]
			outcomes[deviceKey(dv.Device.Key())] = deviceOutcome(dv)
		}
	}
	prog.delivered(res)
	c.record(bg, ev, key, outcomes)
	c.metrics.Callback(res.callbackResult())
	return res
}

// record stores the outcomes of ev's devices; a failure is logged.
func (c *Connector) record(ctx context.Context, ev hmacverify.Event, key string, outcomes map[string]DeviceOutcome) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := c.dedupe.Record(ctx, key, outcomes, c.cfg.DedupeTTL); err != nil {
		c.log.Warn("recording the delivery outcomes failed: a re-sent callback will be taken as already handled, or as new if it was not claimed",
			"eventId", ev.EventID, "sessionId", ev.SessionID, "err", err)
	}
}

// retryTargets returns the devices of devs whose keys are in retry; the keys
// of retry without a device in devs (it left the session) go back into
// outcomes as retryable.
func retryTargets(devs []registry.Device, retry []string, outcomes map[string]DeviceOutcome) []registry.Device {
	want := make(map[string]bool, len(retry))
	for _, k := range retry {
		want[k] = true
	}
	var out []registry.Device
	for _, d := range devs {
		k := deviceKey(d.Key())
		if want[k] {
			out = append(out, d)
			delete(want, k)
		}
	}
	for k := range want {
		outcomes[k] = DeviceRetryable
	}
	return out
}

// deviceOutcome is what the de-duplication store keeps of dv.
func deviceOutcome(dv *dispatch.Delivery) DeviceOutcome {
	switch dv.Outcome {
	case dispatch.Delivered:
		return DeviceDelivered
	case dispatch.Dead:
		return DeviceDead
	case dispatch.Unknown:
		return DeviceUnknown
	}
	if errors.Is(dv.Err, pushwire.ErrRetryable) {
		return DeviceRetryable
	}
	return DevicePermanent
}

// metricOutcome is the Outcome... constant of dv for [Metrics.Delivery].
func metricOutcome(dv *dispatch.Delivery) string {
	switch dv.Outcome {
	case dispatch.Delivered:
		return OutcomeDelivered
	case dispatch.Dead:
		return OutcomeDead
	case dispatch.Unknown:
		return OutcomeUnknown
	}
	switch err := dv.Err; {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return OutcomeTimeout
	case errors.Is(err, pushwire.ErrRetryable):
		return OutcomeRetryable
	}
	return OutcomePermanent
}

// onDelivery is the dispatcher's hook: one call per device outcome.
func (c *Connector) onDelivery(dv dispatch.Delivery) {
	c.metrics.Delivery(dv.Device.Provider, metricOutcome(&dv), dv.Latency)
	if dv.Pruned {
		c.metrics.Pruned(dv.Device.Provider)
	}
}

// callKey is the context key of a delivery's *callInfo, which the
// dispatcher's SenderFor and logger read.
type callKey struct{}

type callInfo struct {
	eventID string
	configs configSet
}

// senderFor is the dispatcher's SenderFor: the sender of device d's
// configuration (its FCM project, its own APNs credential) or Config.APNs.
func (c *Connector) senderFor(ctx context.Context, d registry.Device) (pushwire.Sender, func(), error) {
	var configs configSet
	if ci, ok := ctx.Value(callKey{}).(*callInfo); ok {
		configs = ci.configs
	}
	id := d.Labels[LabelConfigID]
	pc, ok := configs.get(id)
	if d.Provider == pushwire.ProviderAPNs {
		if ok && pc.APNs != nil {
			return c.apnsSender(ctx, pc)
		}
		if c.apns == nil {
			return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderAPNs, Reason: "NoAPNs",
				Err: errors.New("no apns sender is configured")}
		}
		return c.apns, nil, nil
	}
	if !ok {
		return nil, nil, &pushwire.Error{Class: pushwire.ErrConfiguration, Provider: pushwire.ProviderFCM, Reason: "NoConfiguration",
			Err: errors.New("configuration " + truncate(id, 64) + " does not exist")}
	}
	return c.fcmSender(ctx, pc)
}

// topicSender sets the topic of messages that have none.
type topicSender struct {
	pushwire.Sender
	topic string
}

func (s topicSender) Send(ctx context.Context, m pushwire.Message) error {
	if m.Topic == "" {
		m.Topic = s.topic
	}
	return s.Sender.Send(ctx, m)
}

// message is the provider-neutral message of ev that the dispatcher shapes
// for each device: with [DefaultMessage], its data message (the data does
// not depend on the device, so it is built once and shared); with a custom
// BuildMessage, the event's members as data, from which shape rebuilds the
// event.
func (c *Connector) message(ev hmacverify.Event) pushwire.Message {
	if c.build == nil {
		return DefaultMessage(ev, registry.Device{})
	}
	data := make(map[string]string, 5+len(ev.Extra))
	for k, v := range ev.Extra {
		data[k] = v
	}
	for _, m := range [...][2]string{{"eventId", ev.EventID}, {"conversationId", ev.ConversationID},
		{"customerId", ev.CustomerID}, {"sessionId", ev.SessionID}, {"eventDate", ev.EventDate}} {
		if m[1] != "" {
			data[m[0]] = m[1]
		}
	}
	return pushwire.Message{Data: data}
}

// shape is the dispatcher's Shape: the message device d gets.
func (c *Connector) shape(msg pushwire.Message, d registry.Device) pushwire.Message {
	if c.build != nil {
		var ev hmacverify.Event
		ev.Extra = make(map[string]string, len(msg.Data))
		for k, v := range msg.Data {
			switch k {
			case "eventId":
				ev.EventID = v
			case "conversationId":
				ev.ConversationID = v
			case "customerId":
				ev.CustomerID = v
			case "sessionId":
				ev.SessionID = v
			case "eventDate":
				ev.EventDate = v
			default:
				ev.Extra[k] = v
			}
		}
		return c.build(ev, d)
	}
	// DefaultMessage(ev, d), from DefaultMessage(ev, no device).
	msg.Token = d.Token
	if IsIOS(d.Labels[LabelType]) {
		msg.Kind = pushwire.KindAlert
		msg.Title, msg.Body = DefaultAlertTitle, DefaultAlertBody
		msg.MutableContent = true
	}
	return msg
}

// eventLog adds the eventId of a delivery's context to the dispatcher's
// records, so that each delivery record names its event.
type eventLog struct{ slog.Handler }

func (h eventLog) Handle(ctx context.Context, r slog.Record) error {
	if ci, ok := ctx.Value(callKey{}).(*callInfo); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("eventId", ci.eventID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h eventLog) WithAttrs(as []slog.Attr) slog.Handler { return eventLog{h.Handler.WithAttrs(as)} }
func (h eventLog) WithGroup(name string) slog.Handler    { return eventLog{h.Handler.WithGroup(name)} }

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
	c.log.Info("test push", "eventId", ev.EventID, "sessionId", ev.SessionID, "delivered", res.Delivered, "failed", res.Failed, "unknown", res.Unknown)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(res.Status())
	_, _ = w.Write(res.appendJSON(make([]byte, 0, 160)))
}
