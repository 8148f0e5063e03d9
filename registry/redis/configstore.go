package redis

import (
	"context"
	"errors"
	"fmt"
	"sort"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/connector"
)

// ConfigStore is a [connector.ConfigStore] kept in the registry's Redis
// under its key prefix: one string key per configuration
// (Prefix()+"cfg:{configs}:"+id) and a set of their ids
// (Prefix()+"cfg:{configs}"); the hash tag keeps them in one cluster slot.
// It is safe for concurrent use, also by several processes sharing the
// Redis, and it implements [connector.ConfigWatcher] with pub/sub: every
// change is published on Prefix()+"cfg:changes". It holds what the
// connector gives it: with a state key, the secret material is sealed
// before it gets here.
type ConfigStore struct {
	r       *Registry
	client  goredis.UniversalClient
	index   string
	channel string
}

var (
	_ connector.ConfigStore   = (*ConfigStore)(nil)
	_ connector.ConfigWatcher = (*ConfigStore)(nil)
)

// NewConfigStore returns the configuration store of registry r. It uses r's
// client (and, while watching, one pub/sub connection of it): closing r
// closes it.
func NewConfigStore(ctx context.Context, r *Registry) (*ConfigStore, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return &ConfigStore{r: r, client: r.client, index: r.prefix + "cfg:{configs}", channel: r.prefix + "cfg:changes"}, nil
}

func (s *ConfigStore) key(id string) string { return s.index + ":" + id }

// Get implements [connector.ConfigStore].
func (s *ConfigStore) Get(ctx context.Context, id string) (connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return connector.PushConfig{}, err
	}
	data, err := s.client.Get(ctx, s.key(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return connector.PushConfig{}, connector.ErrConfigNotFound
	}
	if err != nil {
		return connector.PushConfig{}, s.r.wrap(ctx, "get configuration", err)
	}
	var pc connector.PushConfig
	return pc, pc.UnmarshalBinary(data)
}

// List implements [connector.ConfigStore].
func (s *ConfigStore) List(ctx context.Context) ([]connector.PushConfig, error) {
	if err := s.r.check(ctx); err != nil {
		return nil, err
	}
	ids, err := s.client.SMembers(ctx, s.index).Result()
	if err != nil {
		return nil, s.r.wrap(ctx, "list configurations", err)
	}
	out := []connector.PushConfig{}
	if len(ids) == 0 {
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.key(id)
	}
	vals, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.r.wrap(ctx, "list configurations", err)
	}
	for _, v := range vals {
		str, ok := v.(string)
		if !ok { // deleted between SMEMBERS and MGET
			continue
		}
		var pc connector.PushConfig
		if err := pc.UnmarshalBinary([]byte(str)); err != nil {
			return nil, err
		}
		out = append(out, pc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Put implements [connector.ConfigStore]; the change is published.
func (s *ConfigStore) Put(ctx context.Context, pc connector.PushConfig) error {
	if err := connector.ValidateID(pc.ID); err != nil {
		return fmt.Errorf("registry/redis: %w: configId %v", pushwire.ErrConfiguration, err)
	}
	if err := s.r.check(ctx); err != nil {
		return err
	}
	data, err := pc.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, s.key(pc.ID), data, 0)
		p.SAdd(ctx, s.index, pc.ID)
		p.Publish(ctx, s.channel, pc.ID)
		return nil
	})
	if err != nil {
		return s.r.wrap(ctx, "put configuration", err)
	}
	return nil
}

// Delete implements [connector.ConfigStore]; the change is published.
func (s *ConfigStore) Delete(ctx context.Context, id string) (bool, error) {
	if err := s.r.check(ctx); err != nil {
		return false, err
	}
	var del *goredis.IntCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.Del(ctx, s.key(id))
		p.SRem(ctx, s.index, id)
		p.Publish(ctx, s.channel, id)
		return nil
	})
	if err != nil {
		return false, s.r.wrap(ctx, "delete configuration", err)
	}
	return del.Val() > 0, nil
}

// Watch implements [connector.ConfigWatcher] with a subscription to the
// change channel. A subscription confirmed again after a reconnection is
// reported as changed(""), since messages published meanwhile are lost.
func (s *ConfigStore) Watch(ctx context.Context, changed func(id string)) error {
	if err := s.r.check(ctx); err != nil {
		return err
	}
	ps := s.client.Subscribe(ctx, s.channel)
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks Receive
	defer func() {
		if stop() {
			_ = ps.Close()
		}
	}()
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.r.wrap(ctx, "watch configurations", err)
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				changed("")
			}
		case *goredis.Message:
			changed(m.Payload)
		}
	}
}
