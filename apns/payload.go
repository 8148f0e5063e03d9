package apns

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/pushwire/pushwire/internal/jsonenc"
)

// InterruptionLevel is the aps interruption-level.
type InterruptionLevel string

// Interruption levels.
const (
	InterruptionPassive       InterruptionLevel = "passive"
	InterruptionActive        InterruptionLevel = "active"
	InterruptionTimeSensitive InterruptionLevel = "time-sensitive"
	InterruptionCritical      InterruptionLevel = "critical"
)

// Alert is the aps alert dictionary. Like [Payload], it is a plain value.
type Alert struct {
	Title           string
	Subtitle        string
	Body            string
	LaunchImage     string
	TitleLocKey     string
	TitleLocArgs    []string
	SubtitleLocKey  string
	SubtitleLocArgs []string
	LocKey          string
	LocArgs         []string
}

// Sound is the aps sound: a named sound, or a critical alert sound with a
// volume. It is a plain value.
type Sound struct {
	// Name is the sound file in the app bundle, or "default".
	Name string
	// Critical marks a critical alert (needs Apple's entitlement).
	Critical bool
	// Volume is the critical alert volume, 0 to 1.
	Volume float64
}

// Payload builds an APNs JSON payload: the aps dictionary plus custom
// top-level keys. The zero value is an empty aps dictionary. A Payload is a
// plain value; it is not safe for concurrent modification.
type Payload struct {
	Alert             *Alert
	Badge             *int // nil: leave the badge alone; 0 clears it
	Sound             *Sound
	ContentAvailable  bool
	MutableContent    bool
	ThreadID          string
	Category          string
	InterruptionLevel InterruptionLevel
	RelevanceScore    *float64
	TargetContentID   string
	// Custom holds top-level keys outside aps, encoded with encoding/json
	// (strings, numbers, bools, maps, slices). The key "aps" is not allowed.
	Custom map[string]any
}

// Badge returns a pointer to n for Payload.Badge.
func Badge(n int) *int { return &n }

// errCustomAPS is returned when a custom key would overwrite aps.
var errCustomAPS = errors.New("apns: custom payload key \"aps\" is reserved")

// errNonFinite is returned for a NaN or infinite number, which JSON cannot
// carry.
var errNonFinite = errors.New("apns: relevance score and sound volume must be finite numbers")

// MarshalJSON encodes the payload. Keys appear in a fixed order, custom
// keys sorted, so equal payloads encode to equal bytes. A NaN or infinite
// RelevanceScore or Sound.Volume is an error. It has a value receiver, so
// json.Marshal encodes a Payload and a *Payload alike.
func (p Payload) MarshalJSON() ([]byte, error) {
	return p.appendJSON(make([]byte, 0, 256))
}

// appendJSON appends the encoded payload to b.
func (p *Payload) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"aps":{`...)
	first := true
	key := func(k string) { b = jsonenc.AppendKey(b, &first, k) }
	if a := p.Alert; a != nil {
		key("alert")
		b = a.appendJSON(b)
	}
	if p.Badge != nil {
		key("badge")
		b = strconv.AppendInt(b, int64(*p.Badge), 10)
	}
	if s := p.Sound; s != nil {
		key("sound")
		if !s.Critical && s.Volume == 0 {
			b = jsonenc.AppendString(b, s.Name)
		} else {
			b = append(b, `{"critical":`...)
			if s.Critical {
				b = append(b, '1')
			} else {
				b = append(b, '0')
			}
			b = append(b, `,"name":`...)
			b = jsonenc.AppendString(b, s.Name)
			b = append(b, `,"volume":`...)
			if b, err = appendFloat(b, s.Volume); err != nil {
				return nil, err
			}
			b = append(b, '}')
		}
	}
	if p.ContentAvailable {
		key("content-available")
		b = append(b, '1')
	}
	if p.MutableContent {
		key("mutable-content")
		b = append(b, '1')
	}
	if p.ThreadID != "" {
		key("thread-id")
		b = jsonenc.AppendString(b, p.ThreadID)
	}
	if p.Category != "" {
		key("category")
		b = jsonenc.AppendString(b, p.Category)
	}
	if p.InterruptionLevel != "" {
		key("interruption-level")
		b = jsonenc.AppendString(b, string(p.InterruptionLevel))
	}
	if p.RelevanceScore != nil {
		key("relevance-score")
		if b, err = appendFloat(b, *p.RelevanceScore); err != nil {
			return nil, err
		}
	}
	if p.TargetContentID != "" {
		key("target-content-id")
		b = jsonenc.AppendString(b, p.TargetContentID)
	}
	b = append(b, '}')
	if len(p.Custom) > 0 {
		keys := make([]string, 0, len(p.Custom))
		for k := range p.Custom {
			if k == "aps" {
				return nil, errCustomAPS
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v, err := json.Marshal(p.Custom[k])
			if err != nil {
				return nil, err
			}
			b = append(b, ',')
			b = jsonenc.AppendString(b, k)
			b = append(b, ':')
			b = append(b, v...)
		}
	}
	return append(b, '}'), nil
}

func (a *Alert) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	str := func(k, v string) {
		if v != "" {
			b = jsonenc.AppendString(jsonenc.AppendKey(b, &first, k), v)
		}
	}
	list := func(k string, v []string) {
		if v != nil {
			b = jsonenc.AppendStrings(jsonenc.AppendKey(b, &first, k), v)
		}
	}
	str("title", a.Title)
	str("subtitle", a.Subtitle)
	str("body", a.Body)
	str("launch-image", a.LaunchImage)
	str("title-loc-key", a.TitleLocKey)
	list("title-loc-args", a.TitleLocArgs)
	str("subtitle-loc-key", a.SubtitleLocKey)
	list("subtitle-loc-args", a.SubtitleLocArgs)
	str("loc-key", a.LocKey)
	list("loc-args", a.LocArgs)
	return append(b, '}')
}

// appendFloat appends f, which must be finite.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errNonFinite
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64), nil
}
