package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/dispatch"
	"github.com/pushwire/pushwire/registry"
)

// deviceRequest is the body of POST /devices: one binding of a user's phone.
type deviceRequest struct {
	User        string `json:"user"`
	Provider    string `json:"provider"`
	Token       string `json:"token"`
	Device      string `json:"device,omitempty"`
	Platform    string `json:"platform,omitempty"`
	AppID       string `json:"appId,omitempty"`
	Environment string `json:"environment,omitempty"`
}

// binding returns the registry binding of r; topic is the default app id
// of an APNs token.
func (r deviceRequest) binding(topic string) registry.Device {
	d := registry.Device{Session: r.User, Provider: pushwire.Provider(strings.ToLower(r.Provider)), Token: r.Token,
		AppID: r.AppID, Environment: r.Environment}
	if d.Provider == pushwire.ProviderAPNs && d.AppID == "" {
		d.AppID = topic
	}
	if r.Device != "" || r.Platform != "" {
		d.Labels = map[string]string{}
		if r.Device != "" {
			d.Labels[dispatch.LabelDevice] = r.Device
		}
		if r.Platform != "" {
			d.Labels[dispatch.LabelPlatform] = r.Platform
		}
	}
	return d
}

// callRequest is the body of POST /calls.
type callRequest struct {
	User         string `json:"user"`
	CallerName   string `json:"callerName,omitempty"`
	CallerNumber string `json:"callerNumber,omitempty"`
}

// callMessage is the notification of call number id from caller.
func callMessage(id, callerName, callerNumber string) pushwire.Message {
	data := map[string]string{"callId": id}
	if callerName != "" {
		data[dispatch.DataCallerName] = callerName
	}
	if callerNumber != "" {
		data[dispatch.DataCallerNumber] = callerNumber
	}
	return pushwire.Message{Kind: pushwire.KindVoIP, Data: data}
}

// deliveryJSON is one device's outcome in the answer of POST /calls.
type deliveryJSON struct {
	Device    string  `json:"device"`
	Provider  string  `json:"provider"`
	Path      string  `json:"path"`
	Outcome   string  `json:"outcome"`
	LatencyMS float64 `json:"latencyMs"`
	Retries   int     `json:"retries,omitempty"`
	LocalErr  string  `json:"localError,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// api serves POST /devices and POST /calls.
type api struct {
	s     *stack
	out   io.Writer
	log   *slog.Logger
	calls atomic.Int64
}

func newAPI(s *stack, out io.Writer, log *slog.Logger) http.Handler {
	a := &api{s: s, out: out, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devices", a.register)
	mux.HandleFunc("POST /calls", a.call)
	return mux
}

// decode reads a JSON body of at most 16 KiB into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %v", err)
	}
	return nil
}

func (a *api) register(w http.ResponseWriter, r *http.Request) {
	var req deviceRequest
	if err := decode(w, r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	d, err := a.s.reg.Register(r.Context(), req.binding(a.s.topic))
	switch {
	case errors.Is(err, registry.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	case err != nil:
		a.log.Error("register", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "registry unavailable"})
		return
	}
	a.log.Info("registered", "user", d.Session, "provider", d.Provider, "token", pushwire.Redact(d.Token),
		"device", d.Labels[dispatch.LabelDevice])
	writeJSON(w, http.StatusOK, map[string]any{"user": d.Session, "provider": d.Provider,
		"token": pushwire.Redact(d.Token), "expiresAt": d.ExpiresAt})
}

func (a *api) call(w http.ResponseWriter, r *http.Request) {
	var req callRequest
	if err := decode(w, r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if req.User == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user is required"})
		return
	}
	id := strconv.FormatInt(a.calls.Add(1), 10)
	res, err := a.s.disp.Notify(r.Context(), req.User, callMessage(id, req.CallerName, req.CallerNumber))
	switch {
	case errors.Is(err, pushwire.ErrClosed):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "shutting down"})
		return
	case err != nil:
		a.log.Error("call", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "registry unavailable"})
		return
	case len(res.Deliveries) == 0:
		writeJSON(w, http.StatusNotFound, map[string]string{"call": id, "error": "the user has no device"})
		return
	}
	out := make([]deliveryJSON, 0, len(res.Deliveries))
	for _, d := range res.Deliveries {
		fmt.Fprintln(a.out, deliveryLine(id, d))
		j := deliveryJSON{Device: d.Phone, Provider: string(d.Device.Provider), Path: string(d.Path),
			Outcome: d.Outcome.String(), LatencyMS: float64(d.Latency) / float64(time.Millisecond), Retries: d.Retries()}
		if j.Device == "" {
			j.Device = pushwire.Redact(d.Device.Token)
		}
		if d.LocalErr != nil {
			j.LocalErr = d.LocalErr.Error()
		}
		if d.Err != nil {
			j.Error = d.Err.Error()
		}
		out = append(out, j)
	}
	c := res.Counts()
	writeJSON(w, http.StatusOK, map[string]any{"call": id, "deliveries": out,
		"delivered": c.Delivered, "failed": c.Failed, "unknown": c.Unknown, "dead": c.Dead})
}

// bearer lets through requests with the API token only.
func bearer(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callpush"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
