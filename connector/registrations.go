package connector

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/apns"
	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/seal"
)

// registrationBody is the JSON of a device registration.
type registrationBody struct {
	ConfigID    *string `json:"configId"`
	SessionID   *string `json:"sessionId"`
	DeviceToken string  `json:"deviceToken,omitempty"`
	Type        *string `json:"type,omitempty"`
	// PayloadKeys are the device's keys for end-to-end payload encryption,
	// the "keys" of a Web Push subscription; never part of an answer.
	PayloadKeys *pushwire.PayloadKeys `json:"payloadKeys,omitempty"`
}

// registrationView is what the registration routes answer. It has no
// payload keys: they are the device's to know, and the auth secret is not
// public.
type registrationView struct {
	ConfigID    string `json:"configId"`
	SessionID   string `json:"sessionId"`
	DeviceToken string `json:"deviceToken"`
	Type        string `json:"type,omitempty"`
}

func viewOf(d registry.Device) registrationView {
	return registrationView{
		ConfigID:    d.Labels[LabelConfigID],
		SessionID:   d.Session,
		DeviceToken: d.Token,
		Type:        d.Labels[LabelType],
	}
}

// IsIOS reports whether a registration's type marks an iOS device ("ios" in
// any case, as the sample checks).
func IsIOS(typ string) bool { return strings.EqualFold(typ, "ios") }

// keysFor returns the registry keys a token may be stored under.
func keysFor(token string) []registry.Key {
	keys := []registry.Key{{Provider: pushwire.ProviderFCM, Token: token}}
	if apns.ValidDeviceToken(token) {
		keys = append(keys, registry.Key{Provider: pushwire.ProviderAPNs, Token: token})
	}
	return keys
}

// requireID checks the id member name of a request body: present and
// valid, or a 400 naming it is written and false returned.
func requireID(w http.ResponseWriter, name string, id *string) bool {
	if id == nil {
		writeMessage(w, http.StatusBadRequest, name+" is required")
		return false
	}
	if err := validateID(*id); err != nil {
		writeMessage(w, http.StatusBadRequest, name+": "+err.Error())
		return false
	}
	return true
}

func (c *Connector) handleRegister(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("deviceToken")
	if err := ValidateToken(token); err != nil {
		writeMessage(w, http.StatusBadRequest, "deviceToken: "+err.Error())
		return
	}
	var b registrationBody
	if !c.readJSON(w, r, &b) {
		return
	}
	if b.ConfigID == nil {
		// As the sample: it looks the missing configId up and finds nothing.
		writeMessage(w, http.StatusNotFound, "configId [undefined] not found")
		return
	}
	if !requireID(w, "configId", b.ConfigID) || !requireID(w, "sessionId", b.SessionID) {
		return
	}
	typ := ""
	if b.Type != nil {
		typ = *b.Type
		if err := validateType(typ); err != nil {
			writeMessage(w, http.StatusBadRequest, "type: "+err.Error())
			return
		}
	}
	if k := b.PayloadKeys; k != nil {
		if _, err := seal.ParseKeys(k.P256DH, k.Auth); err != nil {
			// seal's errors name the member and the fault, never the key.
			writeMessage(w, http.StatusBadRequest, "payloadKeys: "+strings.TrimPrefix(err.Error(), "seal: "))
			return
		}
	}
	pc, err := c.configs.Get(r.Context(), *b.ConfigID)
	if err != nil {
		if errors.Is(err, ErrConfigNotFound) {
			writeMessage(w, http.StatusNotFound, "configId ["+*b.ConfigID+"] not found")
			return
		}
		c.internalError(w, "read configuration", err)
		return
	}
	provider := pushwire.ProviderFCM
	if IsIOS(typ) && apns.ValidDeviceToken(token) {
		if c.cfg.APNs == nil && pc.APNs == nil {
			writeMessage(w, http.StatusBadRequest, "deviceToken: apns device tokens need apns to be configured; register the fcm token")
			return
		}
		provider = pushwire.ProviderAPNs
	}
	labels := map[string]string{LabelConfigID: *b.ConfigID}
	if typ != "" {
		labels[LabelType] = typ
	}
	d, err := c.reg.Register(r.Context(), registry.Device{
		Session:     *b.SessionID,
		Provider:    provider,
		Token:       token,
		Labels:      labels,
		PayloadKeys: b.PayloadKeys,
	})
	c.sessions.drop(*b.SessionID)
	switch {
	case errors.Is(err, registry.ErrInvalid):
		writeMessage(w, http.StatusBadRequest, "invalid registration")
		return
	case err != nil:
		c.internalError(w, "store registration", err)
		return
	}
	// A hex token may have been stored under the other provider before
	// (registered without "type": "iOS"): keep one binding per token.
	for _, k := range keysFor(token) {
		if k.Provider != d.Provider {
			if err := c.reg.Unregister(r.Context(), k); err != nil && !errors.Is(err, registry.ErrNotFound) {
				c.log.Warn("removing the token's other binding failed", "token", pushwire.Redact(token), "err", err)
			}
		}
	}
	c.log.Info("device registered", "provider", d.Provider, "token", pushwire.Redact(token),
		"sessionId", d.Session, "configId", *b.ConfigID, "type", typ, "payloadKeys", d.PayloadKeys != nil)
	writeJSON(w, http.StatusOK, viewOf(d))
}

// findDevice returns the device registered under token, trying each provider
// the token may belong to.
func (c *Connector) findDevice(ctx context.Context, token string) (registry.Device, error) {
	for _, k := range keysFor(token) {
		d, err := c.reg.Get(ctx, k)
		if err == nil || !errors.Is(err, registry.ErrNotFound) {
			return d, err
		}
	}
	return registry.Device{}, registry.ErrNotFound
}

func (c *Connector) handleGetRegistration(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("deviceToken")
	if err := ValidateToken(token); err != nil {
		writeMessage(w, http.StatusNotFound, "deviceToken ["+truncate(token, 128)+"] not found")
		return
	}
	d, err := c.findDevice(r.Context(), token)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		writeMessage(w, http.StatusNotFound, "deviceToken ["+token+"] not found")
	case err != nil:
		c.internalError(w, "read registration", err)
	default:
		writeJSON(w, http.StatusOK, viewOf(d))
	}
}

func (c *Connector) handleDeleteRegistration(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("deviceToken")
	if err := ValidateToken(token); err != nil {
		writeMessage(w, http.StatusNotFound, "deviceToken ["+truncate(token, 128)+"] not found")
		return
	}
	removed := false
	for _, k := range keysFor(token) {
		err := c.reg.Unregister(r.Context(), k)
		switch {
		case err == nil:
			removed = true
		case errors.Is(err, registry.ErrNotFound):
		default:
			c.internalError(w, "delete registration", err)
			return
		}
	}
	if !removed {
		writeMessage(w, http.StatusNotFound, "deviceToken ["+token+"] not found")
		return
	}
	c.log.Info("device unregistered", "token", pushwire.Redact(token))
	w.WriteHeader(http.StatusNoContent)
}

func (c *Connector) handleSearch(w http.ResponseWriter, r *http.Request) {
	var b struct {
		SessionID *string `json:"sessionId"`
	}
	if !c.readJSON(w, r, &b) {
		return
	}
	if !requireID(w, "sessionId", b.SessionID) {
		return
	}
	devs, err := c.reg.Lookup(r.Context(), *b.SessionID)
	if err != nil {
		c.internalError(w, "search registrations", err)
		return
	}
	if len(devs) == 0 {
		writeMessage(w, http.StatusNotFound, "sessionId ["+*b.SessionID+"] not found")
		return
	}
	out := struct {
		registrationView
		Registrations []registrationView `json:"registrations"`
	}{registrationView: viewOf(devs[0])}
	for _, d := range devs {
		out.Registrations = append(out.Registrations, viewOf(d))
	}
	writeJSON(w, http.StatusOK, out)
}
