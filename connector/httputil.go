package connector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"

	"github.com/pushwire/pushwire/hmacverify"
)

// Errors of decodeJSON besides hmacverify's ErrTooLarge (413), ErrTimeout
// (408) and ErrMalformed (400), mapped to status codes by readJSON.
var (
	errContentType = errors.New("content-type must be application/json")
	errBadJSON     = errors.New("request body is not valid json")
)

// jsonContentType reports whether r's Content-Type is JSON (with any
// parameters).
func jsonContentType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// decodeJSON checks that r's Content-Type is JSON, reads its body with
// [hmacverify.ReadBody] (the limits of every route, the callback's included)
// and decodes one JSON value into v.
func (c *Connector) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if !jsonContentType(r) {
		return errContentType
	}
	body, err := hmacverify.ReadBody(w, r, c.limits)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// decodeBytes decodes exactly one JSON value from body into v.
func decodeBytes(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%w: field %s must be a %s", errBadJSON, te.Field, jsonKind(te.Type.Kind().String()))
		}
		return errBadJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the json value", errBadJSON)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "string"
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// readJSON decodes r's body into v, answering 415, 413 or 400 and returning
// false when it cannot.
func (c *Connector) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	err := c.decodeJSON(w, r, v)
	switch {
	case err == nil:
		return true
	case errors.Is(err, errContentType):
		writeMessage(w, http.StatusUnsupportedMediaType, err.Error())
	case errors.Is(err, hmacverify.ErrTooLarge):
		writeMessage(w, http.StatusRequestEntityTooLarge, "request body too large")
	case errors.Is(err, hmacverify.ErrTimeout):
		writeMessage(w, http.StatusRequestTimeout, "timed out reading the request body")
	case errors.Is(err, errBadJSON):
		writeMessage(w, http.StatusBadRequest, err.Error())
	default:
		writeMessage(w, http.StatusBadRequest, "could not read request body")
	}
	return false
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeMessage writes the sample's error shape {"message": msg}.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}

func (c *Connector) internalError(w http.ResponseWriter, what string, err error) {
	c.log.Error(what+" failed", "err", err)
	writeMessage(w, http.StatusInternalServerError, what+" failed")
}

// truncate shortens s for echoing in a message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// RemoteHost returns the host part of r.RemoteAddr: the default client
// address for rate limiting.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument reports every request of route to the metrics hook.
func (c *Connector) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := c.cfg.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		c.metrics.Request(route, rec.status, c.cfg.Now().Sub(start))
	})
}

// limited applies the per-client rate limit.
func (c *Connector) limited(h http.HandlerFunc) http.HandlerFunc {
	if c.limiter == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ok, wait := c.limiter.allow(c.cfg.ClientAddr(r))
		if !ok {
			secs := int(wait.Seconds() + 0.999)
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeMessage(w, http.StatusTooManyRequests, "too many requests")
			return
		}
		h(w, r)
	}
}
