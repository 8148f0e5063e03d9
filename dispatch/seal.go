package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/seal/sealsend"
)

// SealMode says which pushes a [Dispatcher] seals end to end (RFC 8291,
// package seal) with the payload keys of the binding they go to
// ([registry.Device.PayloadKeys]).
type SealMode int

// Seal modes.
const (
	// SealWithKeys seals every push to a binding that registered payload
	// keys and sends the pushes of the others as they are (the zero
	// value): a device that registered keys never gets its content in the
	// clear, and apps that register none keep working.
	SealWithKeys SealMode = iota
	// SealStrict seals as SealWithKeys does and refuses to send anything
	// unsealed: a binding without payload keys fails with an error matching
	// pushwire.ErrPermanent and sealsend.ErrNoKeys (outcome [Failed];
	// nothing reaches its provider). A phone whose local binding has no
	// keys is tried through its remote binding. It is the behaviour of a
	// relay that must see only ciphertext, as Cisco's cloud push service
	// rejects any payload that is not encrypted.
	SealStrict
	// SealOff seals nothing in dispatch. The binding's keys still travel in
	// the message's PayloadKeys, for senders that seal themselves (a
	// sealsend.Sender of the caller's, or an lpns.Server); provider
	// clients ignore them, so with plain senders the pushes go out in the
	// clear.
	SealOff
)

// String returns "with-keys", "strict" or "off".
func (m SealMode) String() string {
	switch m {
	case SealWithKeys:
		return "with-keys"
	case SealStrict:
		return "strict"
	case SealOff:
		return "off"
	}
	return fmt.Sprintf("SealMode(%d)", int(m))
}

// SealConfig configures the end-to-end encryption of pushes; see
// [SealMode] and package seal/sealsend, which describes what a sealed push
// of each provider carries.
type SealConfig struct {
	// Mode says which pushes are sealed; the zero value is [SealWithKeys].
	Mode SealMode
	// Placeholder is the visible text of sealed APNs alerts; the zero
	// value means sealsend.DefaultPlaceholderBody and no title.
	Placeholder sealsend.Placeholder
	// Bucket is the padding granularity (seal.Sealer.Bucket); zero means
	// seal.DefaultBucket. Negative is an error.
	Bucket int
	// LPNSMaxBytes is the payload limit of the local push sender
	// (lpns.Config.MaxPayloadBytes). Zero means that of Config.LPNS when it
	// is an *lpns.Server, else sealsend.MaxLPNSBytes. Negative is an error.
	LPNSMaxBytes int
}

// sealers seal the messages of each provider; nil when the mode is off.
type sealers struct {
	fcm, apns, lpns *sealsend.Sender
}

// errNotSending is what the sealers' next sender would answer: they are
// only used for their Seal method, which never sends.
var errNotSending = errors.New("dispatch: the sealer does not send")

func newSealers(cfg SealConfig, lpnsSender pushwire.Sender) (*sealers, error) {
	switch cfg.Mode {
	case SealWithKeys, SealStrict:
	case SealOff:
		return nil, nil
	default:
		return nil, configError(fmt.Sprintf("unknown seal mode %d", int(cfg.Mode)))
	}
	if cfg.LPNSMaxBytes < 0 {
		return nil, configError("negative Seal.LPNSMaxBytes")
	}
	lpnsMax := cfg.LPNSMaxBytes
	if lm, ok := lpnsSender.(interface{ MaxPayloadBytes() int }); ok && lpnsMax == 0 {
		lpnsMax = lm.MaxPayloadBytes()
	}
	never := pushwire.SenderFunc(func(context.Context, pushwire.Message) error {
		return &pushwire.Error{Class: pushwire.ErrPermanent, Err: errNotSending}
	})
	s := &sealers{}
	for _, p := range []struct {
		provider pushwire.Provider
		max      int
		dst      **sealsend.Sender
	}{
		{pushwire.ProviderFCM, 0, &s.fcm},
		{pushwire.ProviderAPNs, 0, &s.apns},
		{pushwire.ProviderLPNS, lpnsMax, &s.lpns},
	} {
		ss, err := sealsend.New(sealsend.Config{Next: never, Provider: p.provider, Strict: cfg.Mode == SealStrict,
			Placeholder: cfg.Placeholder, Bucket: cfg.Bucket, MaxBytes: p.max})
		if err != nil {
			return nil, configError("seal: " + err.Error())
		}
		*p.dst = ss
	}
	return s, nil
}

// seal returns msg sealed for the binding's provider p (unchanged when
// sealing is off, or for a message without keys unless strict), and
// whether it was sealed. Its errors match pushwire.ErrPermanent.
func (s *sealers) seal(msg pushwire.Message, p pushwire.Provider) (pushwire.Message, bool, error) {
	if s == nil {
		return msg, false, nil
	}
	var ss *sealsend.Sender
	switch p {
	case pushwire.ProviderFCM:
		ss = s.fcm
	case pushwire.ProviderAPNs:
		ss = s.apns
	case pushwire.ProviderLPNS:
		ss = s.lpns
	default:
		// senderFor refuses the binding before this is reached.
		return msg, false, nil
	}
	keyed := msg.PayloadKeys != nil
	out, err := ss.Seal(msg)
	if err != nil {
		return pushwire.Message{}, false, err
	}
	return out, keyed, nil
}
