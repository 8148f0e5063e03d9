package sealsend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal"
)

// Size limits of the providers, in bytes.
const (
	// MaxFCMBytes is the largest FCM message object.
	MaxFCMBytes = 4096
	// MaxAPNsBytes is the largest APNs payload.
	MaxAPNsBytes = 4096
	// MaxAPNsVoIPBytes is the largest APNs VoIP payload.
	MaxAPNsVoIPBytes = 5120
	// MaxLPNSBytes is the default largest LPNS notification payload
	// (lpns.Config.MaxPayloadBytes).
	MaxLPNSBytes = 5120
)

// DefaultPlaceholderBody is the text a sealed APNs alert shows, with no
// title, when Config.Placeholder is not set and the app's Notification
// Service Extension does not replace it.
const DefaultPlaceholderBody = "New notification"

// Placeholder is the visible text of a sealed APNs alert, shown only if the
// app's Notification Service Extension cannot decrypt the message in time.
// It is the same for every message and tells nothing about the content.
type Placeholder struct {
	Title, Body string
}

// Config configures a [Sender].
type Config struct {
	// Next is the sender the sealed messages go to. Required.
	Next pushwire.Sender
	// Provider is the transport behind Next: it decides the shape of the
	// sealed message and its size limit. Required: pushwire.ProviderFCM,
	// ProviderAPNs or ProviderLPNS.
	Provider pushwire.Provider
	// Strict refuses every message without payload keys (error matching
	// [ErrNoKeys] and pushwire.ErrPermanent) instead of sending it
	// unsealed. A message that is already sealed (its data holds exactly
	// the sealed members and it shows no text but the placeholder) passes.
	Strict bool
	// Placeholder is the visible text of sealed APNs alerts; the zero value
	// means a body of DefaultPlaceholderBody and no title.
	Placeholder Placeholder
	// Bucket is the padding bucket (seal.Sealer.Bucket); zero means
	// seal.DefaultBucket. Negative is an error.
	Bucket int
	// MaxBytes overrides the provider's size limit (for an LPNS server
	// with another MaxPayloadBytes); zero means the provider's own limit.
	// Negative is an error.
	MaxBytes int
}

// Sender seals messages and hands them to Config.Next. It is safe for
// concurrent use.
type Sender struct {
	cfg Config

	// nextCloses says whether Next has a Close or Shutdown method; when it
	// has neither, stop (cancelled by Close) ends the sends under way.
	nextCloses bool
	stop       context.Context
	kill       context.CancelFunc

	mu     sync.Mutex
	closed bool
	sends  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

var _ pushwire.Sender = (*Sender)(nil)

// New validates cfg and returns a Sender. Errors match
// pushwire.ErrConfiguration.
func New(cfg Config) (*Sender, error) {
	switch {
	case cfg.Next == nil:
		return nil, fmt.Errorf("sealsend: %w: Next is required", pushwire.ErrConfiguration)
	case !cfg.Provider.Valid():
		return nil, fmt.Errorf("sealsend: %w: unknown provider %q", pushwire.ErrConfiguration, cfg.Provider)
	case cfg.Bucket < 0:
		return nil, fmt.Errorf("sealsend: %w: negative Bucket", pushwire.ErrConfiguration)
	case cfg.MaxBytes < 0:
		return nil, fmt.Errorf("sealsend: %w: negative MaxBytes", pushwire.ErrConfiguration)
	}
	if cfg.Placeholder == (Placeholder{}) {
		cfg.Placeholder = Placeholder{Body: DefaultPlaceholderBody}
	}
	stop, kill := context.WithCancel(context.Background())
	_, closes := cfg.Next.(closer)
	_, shuts := cfg.Next.(shutdowner)
	return &Sender{cfg: cfg, nextCloses: closes || shuts, stop: stop, kill: kill}, nil
}

// Send seals msg when msg.PayloadKeys is set and sends the sealed message
// through Next. A message without keys goes out as it is, or, in strict
// mode, is refused. Errors of Next are returned unchanged.
func (s *Sender) Send(ctx context.Context, msg pushwire.Message) error {
	if err := ctx.Err(); err != nil {
		return pushwire.ContextError(s.cfg.Provider, err, false)
	}
	if !s.begin() {
		return fmt.Errorf("sealsend: send to %s: %w", pushwire.Redact(msg.Token), pushwire.ErrClosed)
	}
	defer s.sends.Done()
	out, err := s.Seal(msg)
	if err != nil {
		return err
	}
	if s.nextCloses {
		// Close and Shutdown close Next, which ends its own sends.
		return s.cfg.Next.Send(ctx, out)
	}
	// Next cannot be closed: Close ends the send through its context.
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.stop, cancel)()
	err = s.cfg.Next.Send(sendCtx, out)
	switch {
	case err == nil:
	case ctx.Err() == nil && s.stop.Err() != nil:
		// Ended by Close: the request may have been written.
		return pushwire.UnknownOutcome(fmt.Errorf("sealsend: send to %s: %w (%v)", pushwire.Redact(msg.Token), pushwire.ErrClosed, err))
	case ctx.Err() != nil && sendCtx.Err() != ctx.Err() && errors.Is(err, sendCtx.Err()):
		// The caller's context ended, but Next saw it through sendCtx with
		// another error (a context type of its own): report the caller's.
		return pushwire.ContextError(s.cfg.Provider, ctx.Err(), errors.Is(err, pushwire.ErrUnknownOutcome))
	}
	return err
}

// Seal returns the message Send would hand to Next for msg: sealed when
// msg.PayloadKeys is set (with PayloadKeys cleared), msg unchanged when it
// is not (an error in strict mode). The errors are those of Send before
// sending.
func (s *Sender) Seal(msg pushwire.Message) (pushwire.Message, error) {
	if msg.PayloadKeys == nil {
		if s.cfg.Strict && !s.alreadySealed(&msg) {
			return pushwire.Message{}, &pushwire.Error{Class: pushwire.ErrPermanent, Provider: s.cfg.Provider, Reason: "Unsealed", Err: ErrNoKeys}
		}
		return msg, nil
	}
	keys, err := seal.ParseKeys(msg.PayloadKeys.P256DH, msg.PayloadKeys.Auth)
	if err != nil {
		return pushwire.Message{}, &pushwire.Error{Class: pushwire.ErrPermanent, Provider: s.cfg.Provider, Reason: "InvalidPayloadKeys", Err: err}
	}

	tracking := msg.ID
	if tracking == "" {
		tracking = newUUID()
	}
	plain, err := json.Marshal(seal.Content{Kind: msg.Kind.String(), Title: msg.Title, Body: msg.Body, Data: msg.Data, TrackingID: tracking})
	if err != nil {
		return pushwire.Message{}, &pushwire.Error{Class: pushwire.ErrPermanent, Provider: s.cfg.Provider, Reason: "InvalidMessage", Err: err}
	}

	out := pushwire.Message{
		Token:       msg.Token,
		Kind:        msg.Kind,
		Topic:       msg.Topic,
		Priority:    msg.Priority,
		TTL:         msg.TTL,
		Expire:      msg.Expire,
		CollapseKey: msg.CollapseKey,
		ID:          tracking,
		Data: map[string]string{
			seal.MemberEncoding:   seal.Encoding,
			seal.MemberCiphertext: "",
			seal.MemberTrackingID: tracking,
		},
	}
	s.shape(&out)
	overhead := s.size(&out) // the message with an empty ciphertext
	limit := s.limit(out.Kind)
	maxBody := max(limit-overhead, 0) * 3 / 4 // n bytes take ceil(4n/3) base64 characters

	body, err := seal.Sealer{Bucket: s.cfg.Bucket, Limit: maxBody}.Seal(keys, plain)
	if err != nil {
		return pushwire.Message{}, &pushwire.Error{Class: pushwire.ErrPermanent, Provider: s.cfg.Provider, Reason: "InvalidPayloadKeys", Err: err}
	}
	ct := base64.RawURLEncoding.EncodeToString(body)
	if size := overhead + len(ct); size > limit {
		return pushwire.Message{}, &TooLargeError{Provider: s.cfg.Provider, Kind: msg.Kind, Size: size, Limit: limit}
	}
	out.Data[seal.MemberCiphertext] = ct
	return out, nil
}

// shape sets the kind and visible text of a sealed message for the
// provider.
func (s *Sender) shape(out *pushwire.Message) {
	switch s.cfg.Provider {
	case pushwire.ProviderAPNs:
		if out.Kind == pushwire.KindAlert {
			out.Title, out.Body = s.cfg.Placeholder.Title, s.cfg.Placeholder.Body
			out.MutableContent = true
		}
	case pushwire.ProviderFCM:
		out.Kind = pushwire.KindData
	}
}

// limit is the size limit for a sealed message of kind k.
func (s *Sender) limit(k pushwire.Kind) int {
	switch {
	case s.cfg.MaxBytes > 0:
		return s.cfg.MaxBytes
	case s.cfg.Provider == pushwire.ProviderFCM:
		return MaxFCMBytes
	case s.cfg.Provider == pushwire.ProviderLPNS:
		return MaxLPNSBytes
	case k == pushwire.KindVoIP:
		return MaxAPNsVoIPBytes
	}
	return MaxAPNsBytes
}

// alreadySealed reports whether msg has the form Seal gives a message:
// only the sealed data members and no text but the placeholder.
func (s *Sender) alreadySealed(msg *pushwire.Message) bool {
	if !seal.IsSealed(msg.Data) {
		return false
	}
	for k := range msg.Data {
		switch k {
		case seal.MemberEncoding, seal.MemberCiphertext, seal.MemberTrackingID:
		default:
			return false
		}
	}
	if msg.Title == "" && msg.Body == "" {
		return true
	}
	return s.cfg.Provider == pushwire.ProviderAPNs && msg.Kind == pushwire.KindAlert &&
		msg.Title == s.cfg.Placeholder.Title && msg.Body == s.cfg.Placeholder.Body
}

// begin registers a send, or reports that the Sender is closed.
func (s *Sender) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sends.Add(1)
	return true
}

func (s *Sender) refuse() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Close refuses new sends at once and closes Next, which ends the sends
// under way (its Close method, or its Shutdown method with an ended
// context; when Next has neither, Close cancels the sends' contexts and
// they return an error matching pushwire.ErrClosed and
// pushwire.ErrUnknownOutcome). It returns once they have returned. It is
// idempotent and returns the same result every time.
func (s *Sender) Close() error {
	s.refuse()
	s.closeOnce.Do(func() { s.closeErr = closeNext(s.cfg.Next) })
	s.kill()
	s.sends.Wait()
	return s.closeErr
}

// Shutdown refuses new sends at once and waits for the sends under way to
// return or ctx to end. Then it shuts Next down with ctx (its Shutdown
// method, or Close when it has none). When ctx ends first it does what
// Close does and returns ctx's error.
func (s *Sender) Shutdown(ctx context.Context) error {
	s.refuse()
	done := make(chan struct{})
	go func() {
		s.sends.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		_ = s.Close()
		return ctx.Err()
	}
	s.closeOnce.Do(func() { s.closeErr = shutdownNext(ctx, s.cfg.Next) })
	s.kill()
	return s.closeErr
}

type closer interface{ Close() error }

type shutdowner interface {
	Shutdown(ctx context.Context) error
}

func closeNext(next pushwire.Sender) error {
	switch n := next.(type) {
	case closer:
		return n.Close()
	case shutdowner:
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // an ended context: no waiting
		if err := n.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

func shutdownNext(ctx context.Context, next pushwire.Sender) error {
	switch n := next.(type) {
	case shutdowner:
		return n.Shutdown(ctx)
	case closer:
		return n.Close()
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
