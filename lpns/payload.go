package lpns

import (
	"encoding/json"
	"fmt"

	"github.com/pushwire/pushwire"
)

// messagePayload is the JSON form of a pushwire.Message sent as the payload
// of a notification frame (see PROTOCOL.md).
type messagePayload struct {
	Kind           string            `json:"kind"`
	Topic          string            `json:"topic,omitempty"`
	Title          string            `json:"title,omitempty"`
	Body           string            `json:"body,omitempty"`
	MutableContent bool              `json:"mutableContent,omitempty"`
	Data           map[string]string `json:"data,omitempty"`
	CollapseKey    string            `json:"collapseKey,omitempty"`
}

// MessagePayload returns the notification payload Server.Send uses for msg:
// {"kind", "topic", "title", "body", "mutableContent", "data", "collapseKey"}
// with empty fields omitted.
func MessagePayload(msg pushwire.Message) ([]byte, error) {
	b, err := json.Marshal(messagePayload{Kind: msg.Kind.String(), Topic: msg.Topic, Title: msg.Title,
		Body: msg.Body, MutableContent: msg.MutableContent, Data: msg.Data, CollapseKey: msg.CollapseKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	return b, nil
}

// Path says which route delivered a notification (a plain string value).
type Path string
