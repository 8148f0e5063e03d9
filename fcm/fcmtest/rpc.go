package fcmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an answer in the google.rpc.Status format.
type apiError struct {
	httpStatus int
	status     string // google.rpc code name
	message    string
	fcmCode    string // FcmError errorCode; empty for none
	violations []fieldViolation
	quota      bool // add a QuotaFailure detail
	retryAfter string
	bare       bool // status line only, empty body
}

type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

func (e *apiError) Error() string { return e.message }

func badRequest(field, msg string) *apiError {
	e := &apiError{httpStatus: 400, status: "INVALID_ARGUMENT", message: msg, fcmCode: "INVALID_ARGUMENT"}
	if field != "" {
		e.violations = []fieldViolation{{Field: field, Description: msg}}
	}
	return e
}

func (e *apiError) write(w http.ResponseWriter) {
	h := w.Header()
	if e.retryAfter != "" {
		h.Set("Retry-After", e.retryAfter)
	}
	if e.bare {
		h.Set("Content-Length", "0")
		w.WriteHeader(e.httpStatus)
		return
	}
	details := []any{}
	if e.fcmCode != "" {
		details = append(details, map[string]string{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": e.fcmCode,
		})
	}
	if len(e.violations) > 0 {
		details = append(details, map[string]any{
			"@type":           "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": e.violations,
		})
	}
	if e.quota {
		details = append(details, map[string]any{
			"@type": "type.googleapis.com/google.rpc.QuotaFailure",
			"violations": []map[string]string{{
				"subject":     "project",
				"description": "Sending quota exceeded for the project.",
			}},
		})
	}
	body := map[string]any{"error": map[string]any{
		"code":    e.httpStatus,
		"message": e.message,
		"status":  e.status,
		"details": details,
	}}
	if len(details) == 0 {
		delete(body["error"].(map[string]any), "details")
	}
	b, _ := json.Marshal(body)
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.httpStatus)
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
