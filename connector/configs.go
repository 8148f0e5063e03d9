package connector

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pushwire/pushwire"
)

// PushConfig is one AXP push configuration: the configId that AXP and the
// apps know, the FCM service account to push with, and the AXP secret(s)
// that sign its callbacks. It is a plain value; one returned by a
// [ConfigStore] must not be modified (replace its fields instead).
type PushConfig struct {
	// ID is the configId.
	ID string
	// FCMServiceAccount is the service-account JSON ("fcmServiceAccountConfig").
	// Empty means the configuration cannot push through FCM.
	FCMServiceAccount json.RawMessage
	// Secrets are the AXP secrets accepted for callbacks to devices of this
	// configuration; several allow rotation.
	Secrets [][]byte
	// APNs is the configuration's own APNs credential. Nil means the
	// connector's default APNs sender ([Config.APNs]) serves its APNs
	// devices.
	APNs *APNsCredential
	// Sealed is the secret material (Secrets, FCMServiceAccount, APNs)
	// sealed with the connector's state key ([Config.StateKeys]): in the
	// values the connector hands a [ConfigStore] these fields are then empty
	// and Sealed alone holds them. Stores keep it as opaque bytes; the
	// connector opens it when it reads a configuration.
	Sealed []byte
	// CreatedAt and UpdatedAt are set by the connector.
	CreatedAt, UpdatedAt time.Time
}

// clone returns a deep copy of pc.
func (pc PushConfig) clone() PushConfig {
	out := pc
	out.FCMServiceAccount = append(json.RawMessage(nil), pc.FCMServiceAccount...)
	out.Secrets = make([][]byte, len(pc.Secrets))
	for i, s := range pc.Secrets {
		out.Secrets[i] = append([]byte(nil), s...)
	}
	if pc.APNs != nil {
		a := *pc.APNs
		a.Key = append([]byte(nil), pc.APNs.Key...)
		out.APNs = &a
	}
	out.Sealed = append([]byte(nil), pc.Sealed...)
	return out
}

// ErrConfigNotFound is returned by a [ConfigStore] for an unknown configId.
var ErrConfigNotFound = errors.New("connector: configuration not found")

// ConfigStore keeps push configurations. Implementations must be safe for
// concurrent use. Put must not keep references into its argument; values
// returned by Get and List are read-only for the caller (the connector never
// modifies them), so a store may return its own copies without cloning. [MemoryConfigStore] is the default; implement it over a
// database to persist configurations.
type ConfigStore interface {
	// Get returns the configuration id, or ErrConfigNotFound.
	Get(ctx context.Context, id string) (PushConfig, error)
	// List returns every configuration, ordered by id.
	List(ctx context.Context) ([]PushConfig, error)
	// Put inserts or replaces the configuration pc.ID.
	Put(ctx context.Context, pc PushConfig) error
	// Delete removes configuration id and reports whether it existed.
	Delete(ctx context.Context, id string) (bool, error)
}

// MemoryConfigStore is an in-memory [ConfigStore]. It is safe for concurrent
// use. The zero value is not usable; call [NewMemoryConfigStore].
type MemoryConfigStore struct {
	mu sync.RWMutex
	m  map[string]PushConfig
}

// NewMemoryConfigStore returns an empty store.
func NewMemoryConfigStore() *MemoryConfigStore {
	return &MemoryConfigStore{m: make(map[string]PushConfig)}
}

// Get implements [ConfigStore].
func (s *MemoryConfigStore) Get(_ context.Context, id string) (PushConfig, error) {
	s.mu.RLock()
	pc, ok := s.m[id]
	s.mu.RUnlock()
	if !ok {
		return PushConfig{}, ErrConfigNotFound
	}
	return pc, nil // stored values are never modified, only replaced
}

// List implements [ConfigStore].
func (s *MemoryConfigStore) List(context.Context) ([]PushConfig, error) {
	s.mu.RLock()
	out := make([]PushConfig, 0, len(s.m))
	for _, pc := range s.m {
		out = append(out, pc)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Put implements [ConfigStore].
func (s *MemoryConfigStore) Put(_ context.Context, pc PushConfig) error {
	if err := validateID(pc.ID); err != nil {
		return fmt.Errorf("connector: %w: configId %v", pushwire.ErrConfiguration, err)
	}
	s.mu.Lock()
	s.m[pc.ID] = pc.clone()
	s.mu.Unlock()
	return nil
}

// Delete implements [ConfigStore].
func (s *MemoryConfigStore) Delete(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	_, ok := s.m[id]
	delete(s.m, id)
	s.mu.Unlock()
	return ok, nil
}

// AddConfig stores a push configuration directly (for configurations given at
// start-up rather than through the admin API). The service-account JSON and
// the APNs credential are checked by building their senders. CreatedAt and
// UpdatedAt are set. Sealed must be empty: the connector seals.
func (c *Connector) AddConfig(ctx context.Context, pc PushConfig) error {
	if err := validateID(pc.ID); err != nil {
		return fmt.Errorf("connector: %w: configId %v", pushwire.ErrConfiguration, err)
	}
	if err := validateSecrets(pc.Secrets); err != nil {
		return fmt.Errorf("connector: %w: %v", pushwire.ErrConfiguration, err)
	}
	if len(pc.Sealed) > 0 {
		return fmt.Errorf("connector: %w: Sealed is set by the connector", pushwire.ErrConfiguration)
	}
	now := c.cfg.Now()
	pc.CreatedAt, pc.UpdatedAt = now, now
	if len(pc.FCMServiceAccount) > 0 {
		if err := validateServiceAccount(pc.FCMServiceAccount); err != nil {
			return fmt.Errorf("connector: %w: %v", pushwire.ErrConfiguration, err)
		}
		_, release, err := c.fcmSender(ctx, pc)
		if err != nil {
			return fmt.Errorf("connector: %w: %w", pushwire.ErrConfiguration, err)
		}
		release()
	}
	if pc.APNs != nil {
		if err := pc.APNs.Validate(); err != nil {
			return fmt.Errorf("connector: %w: %v", pushwire.ErrConfiguration, err)
		}
		if err := c.checkAPNsCredential(ctx, pc); err != nil {
			return fmt.Errorf("connector: %w: %w", pushwire.ErrConfiguration, err)
		}
	}
	return c.configs.Put(ctx, pc)
}

// configBody is the JSON of the /configs routes. Secrets are write-only.
type configBody struct {
	ConfigID          string          `json:"configId,omitempty"`
	FCMServiceAccount json.RawMessage `json:"fcmServiceAccountConfig,omitempty"`
	Secret            *string         `json:"secret,omitempty"`
	Secrets           []string        `json:"secrets,omitempty"`
	SecretCount       *int            `json:"secretCount,omitempty"`
	Warnings          []string        `json:"warnings,omitempty"`
	APNs              *apnsBody       `json:"apns,omitempty"`

	apns *APNsCredential // APNs, validated
}

// Warnings about a push configuration that is stored but cannot serve,
// given in the configuration's JSON ("warnings") and logged when it is
// created or changed.
const (
	WarningNoSecret         = "no secret: AXP callbacks to this configuration's devices are refused (401) until one is set"
	WarningNoServiceAccount = "no fcmServiceAccountConfig: pushes to this configuration's FCM devices fail until one is set"
)

// configWarnings returns what keeps pc from serving.
func configWarnings(pc PushConfig) []string {
	var w []string
	if len(pc.Secrets) == 0 {
		w = append(w, WarningNoSecret)
	}
	if len(pc.FCMServiceAccount) == 0 {
		w = append(w, WarningNoServiceAccount)
	}
	return w
}

func (c *Connector) configView(pc PushConfig) configBody {
	n := len(pc.Secrets)
	return configBody{ConfigID: pc.ID, FCMServiceAccount: RedactServiceAccount(pc.FCMServiceAccount), SecretCount: &n,
		Warnings: configWarnings(pc), APNs: apnsView(pc.APNs)}
}

// logWarnings logs what keeps a configuration just stored from serving.
func (c *Connector) logWarnings(pc PushConfig) {
	for _, w := range configWarnings(pc) {
		c.log.Warn("configuration incomplete", "configId", pc.ID, "warning", w)
	}
}

// readConfigBody decodes and validates a /configs request body.
func (c *Connector) readConfigBody(w http.ResponseWriter, r *http.Request) (configBody, bool) {
	var b configBody
	if !c.readJSON(w, r, &b) {
		return b, false
	}
	if len(b.FCMServiceAccount) > 0 && !bytes.Equal(bytes.TrimSpace(b.FCMServiceAccount), []byte("null")) {
		if err := validateServiceAccount(b.FCMServiceAccount); err != nil {
			writeMessage(w, http.StatusBadRequest, err.Error())
			return b, false
		}
	} else {
		b.FCMServiceAccount = nil
	}
	if b.APNs != nil {
		a, err := b.APNs.credential()
		if err != nil {
			writeMessage(w, http.StatusBadRequest, err.Error())
			return b, false
		}
		b.apns = a
	}
	if b.Secret != nil {
		b.Secrets = append(b.Secrets, *b.Secret)
	}
	secrets := make([][]byte, len(b.Secrets))
	for i, s := range b.Secrets {
		secrets[i] = []byte(s)
	}
	if err := validateSecrets(secrets); err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return b, false
	}
	return b, true
}

// applyConfig merges b into pc (fields present replace, absent are kept),
// checks the credentials by building the sender, and stores the result.
func (c *Connector) applyConfig(w http.ResponseWriter, r *http.Request, pc PushConfig, b configBody) (PushConfig, bool) {
	if b.FCMServiceAccount != nil {
		pc.FCMServiceAccount = b.FCMServiceAccount
	}
	if b.apns != nil {
		pc.APNs = b.apns
	}
	if b.Secrets != nil {
		pc.Secrets = make([][]byte, len(b.Secrets))
		for i, s := range b.Secrets {
			pc.Secrets[i] = []byte(s)
		}
	}
	now := c.cfg.Now()
	if pc.CreatedAt.IsZero() {
		pc.CreatedAt = now
	}
	pc.UpdatedAt = now
	if len(pc.FCMServiceAccount) > 0 {
		_, release, err := c.fcmSender(r.Context(), pc)
		if err != nil {
			c.log.Warn("rejected fcm service account", "configId", pc.ID, "err", err)
			writeMessage(w, http.StatusBadRequest, "fcmServiceAccountConfig is not a usable service account")
			return pc, false
		}
		release()
	}
	if err := c.checkAPNsCredential(r.Context(), pc); err != nil {
		c.log.Warn("rejected apns credential", "configId", pc.ID, "err", err)
		writeMessage(w, http.StatusBadRequest, "apns is not a usable credential")
		return pc, false
	}
	if err := c.configs.Put(r.Context(), pc); err != nil {
		c.internalError(w, "store configuration", err)
		return pc, false
	}
	return pc, true
}

func (c *Connector) handleCreateConfig(w http.ResponseWriter, r *http.Request) {
	b, ok := c.readConfigBody(w, r)
	if !ok {
		return
	}
	pc, ok := c.applyConfig(w, r, PushConfig{ID: uuid.NewString()}, b)
	if !ok {
		return
	}
	c.log.Info("configuration created", "configId", pc.ID)
	c.logWarnings(pc)
	writeJSON(w, http.StatusCreated, c.configView(pc))
}

func (c *Connector) handlePutConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("configId")
	if err := validateID(id); err != nil {
		writeMessage(w, http.StatusBadRequest, "configId: "+err.Error())
		return
	}
	b, ok := c.readConfigBody(w, r)
	if !ok {
		return
	}
	pc, err := c.configs.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrConfigNotFound):
		pc = PushConfig{ID: id}
	case err != nil:
		c.internalError(w, "read configuration", err)
		return
	}
	pc, ok = c.applyConfig(w, r, pc, b)
	if !ok {
		return
	}
	c.log.Info("configuration updated", "configId", pc.ID)
	c.logWarnings(pc)
	writeJSON(w, http.StatusOK, c.configView(pc))
}

func (c *Connector) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("configId")
	pc, err := c.configs.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrConfigNotFound):
		writeMessage(w, http.StatusNotFound, "configId ["+truncate(id, 128)+"] not found")
	case err != nil:
		c.internalError(w, "read configuration", err)
	default:
		writeJSON(w, http.StatusOK, c.configView(pc))
	}
}

func (c *Connector) handleListConfigs(w http.ResponseWriter, r *http.Request) {
	list, err := c.configs.List(r.Context())
	if err != nil {
		c.internalError(w, "list configurations", err)
		return
	}
	out := make([]configBody, len(list))
	for i, pc := range list {
		out[i] = c.configView(pc)
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Connector) handleDeleteConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("configId")
	existed, err := c.configs.Delete(r.Context(), id)
	if err != nil {
		c.internalError(w, "delete configuration", err)
		return
	}
	c.dropSender(id)
	if existed {
		c.log.Info("configuration deleted", "configId", id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// allSecrets returns the secrets of every configuration.
func (c *Connector) allSecrets(ctx context.Context) ([][]byte, error) {
	list, err := c.configs.List(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, pc := range list {
		out = append(out, pc.Secrets...)
	}
	return out, nil
}

// Redaction of service-account JSON.
const redacted = "[redacted]"

// RedactServiceAccount returns sa with its private key replaced by
// "[redacted]" and its private_key_id shortened with [pushwire.Redact], their
// names matched without regard to case; any other member holding a PEM
// private key is replaced too. Other fields are kept. Input that is not a JSON object yields nil.
func RedactServiceAccount(sa json.RawMessage) json.RawMessage {
	if len(sa) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(sa, &m); err != nil {
		return nil
	}
	// Keys are matched as encoding/json and Google's parser match them,
	// without regard to case; any other member holding a PEM key is
	// redacted too.
	for k, raw := range m {
		switch {
		case strings.EqualFold(k, "private_key_id"):
			var id string
			if json.Unmarshal(raw, &id) == nil {
				m[k], _ = json.Marshal(pushwire.Redact(id))
			} else {
				m[k], _ = json.Marshal(redacted)
			}
		case strings.EqualFold(k, "private_key") || bytes.Contains(raw, []byte("PRIVATE KEY")):
			m[k], _ = json.Marshal(redacted)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}

// validateServiceAccount checks the fields every service account has.
func validateServiceAccount(sa json.RawMessage) error {
	var v struct {
		Type        string `json:"type"`
		ProjectID   string `json:"project_id"`
		PrivateKey  string `json:"private_key"`
		ClientEmail string `json:"client_email"`
	}
	if err := json.Unmarshal(sa, &v); err != nil {
		return errors.New("fcmServiceAccountConfig must be a service-account json object")
	}
	switch {
	case v.Type != "service_account":
		return errors.New(`fcmServiceAccountConfig: type must be "service_account"`)
	case v.ProjectID == "":
		return errors.New("fcmServiceAccountConfig: project_id is required")
	case v.PrivateKey == "":
		return errors.New("fcmServiceAccountConfig: private_key is required")
	case v.ClientEmail == "":
		return errors.New("fcmServiceAccountConfig: client_email is required")
	}
	block, _ := pem.Decode([]byte(v.PrivateKey))
	if block == nil {
		return errors.New("fcmServiceAccountConfig: private_key is not a PEM key")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return errors.New("fcmServiceAccountConfig: private_key is not a PKCS#8 or PKCS#1 private key")
		}
	}
	return nil
}

// Limits on secrets.
const (
	maxSecrets   = 16
	maxSecretLen = 1024
)

func validateSecrets(ss [][]byte) error {
	if len(ss) > maxSecrets {
		return errors.New("too many secrets (at most 16)")
	}
	for _, s := range ss {
		if len(s) == 0 {
			return errors.New("empty secret")
		}
		if len(s) < MinSecretLen {
			return fmt.Errorf("secret shorter than %d bytes", MinSecretLen)
		}
		if len(s) > maxSecretLen {
			return errors.New("secret longer than 1024 bytes")
		}
	}
	return nil
}
