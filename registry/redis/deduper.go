package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire/connector"
)

// Deduper is a [connector.Deduper] kept in the registry's Redis under its key
// prefix: one hash per event (Prefix()+"ev:"+event) whose fields are the
// devices' outcomes ("d:"+device key), plus a field "!" that marks a claimed
// event without outcomes yet. Entries expire natively (PEXPIRE, the server's
// clock). It is shared by every replica: a claim is one script, atomic on
// the server. It is safe for concurrent use.
type Deduper struct {
	r      *Registry
	client goredis.UniversalClient
	claim  *goredis.Script
}

var _ connector.Deduper = (*Deduper)(nil)

// claimScript: KEYS[1] the event's hash, ARGV[1] its TTL in ms. A new event
// gets its marker and TTL and the answer {1}; a known one has its retryable
// devices moved to unknown (and its TTL renewed when there were any) and the
// answer {0, field, value, ...} as it was.
const claimScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then
	redis.call('HSET', KEYS[1], '!', '1')
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	return {1}
end
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
	if all[i + 1] == 'retryable' then
		redis.call('HSET', KEYS[1], all[i], 'unknown')
		n = n + 1
	end
end
if n > 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {0, all}
`

// NewDeduper returns the de-duplication store of registry r. It uses r's
// client: closing r closes it.
func NewDeduper(ctx context.Context, r *Registry) (*Deduper, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	s := &Deduper{r: r, client: r.client, claim: goredis.NewScript(claimScript)}
	if err := s.claim.Load(ctx, r.client).Err(); err != nil {
		return nil, r.wrap(ctx, "load event script", err)
	}
	return s, nil
}

func (s *Deduper) key(event string) string { return s.r.prefix + "ev:" + event }

// millis is ttl in whole milliseconds, at least one.
func millis(ttl time.Duration) int64 { return max(int64((ttl+time.Millisecond-1)/time.Millisecond), 1) }

// Claim implements [connector.Deduper].
func (s *Deduper) Claim(ctx context.Context, event string, ttl time.Duration) (connector.Claim, error) {
	if err := connector.CheckTTL(ttl); err != nil {
		return connector.Claim{}, err
	}
	if err := s.r.check(ctx); err != nil {
		return connector.Claim{}, err
	}
	res, err := s.claim.Run(ctx, s.client, []string{s.key(event)}, millis(ttl)).Slice()
	if err != nil {
		return connector.Claim{}, s.r.wrap(ctx, "claim event", err)
	}
	if len(res) == 1 {
		return connector.Claim{New: true}, nil
	}
	all, ok := res[1].([]any)
	if len(res) != 2 || !ok {
		return connector.Claim{}, fmt.Errorf("registry/redis: claim event: unexpected answer %v", res)
	}
	c := connector.Claim{Outcomes: make(map[string]connector.DeviceOutcome, len(all)/2)}
	for i := 0; i+1 < len(all); i += 2 {
		f, _ := all[i].(string)
		v, _ := all[i+1].(string)
		dev, ok := strings.CutPrefix(f, "d:")
		if !ok {
			continue
		}
		o := connector.DeviceOutcome(v)
		c.Outcomes[dev] = o
		if o == connector.DeviceRetryable {
			c.Retry = append(c.Retry, dev)
		}
	}
	return c, nil
}

// Record implements [connector.Deduper].
func (s *Deduper) Record(ctx context.Context, event string, outcomes map[string]connector.DeviceOutcome, ttl time.Duration) error {
	if err := connector.CheckTTL(ttl); err != nil {
		return err
	}
	if err := s.r.check(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 2+2*len(outcomes))
	args = append(args, "!", "1")
	for dev, o := range outcomes {
		args = append(args, "d:"+dev, string(o))
	}
	k := s.key(event)
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, k, args...)
		p.PExpire(ctx, k, time.Duration(millis(ttl))*time.Millisecond)
		return nil
	})
	if err != nil {
		return s.r.wrap(ctx, "record event", err)
	}
	return nil
}
