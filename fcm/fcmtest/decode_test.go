package fcmtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proto3 JSON reads null as the default of any field, an int32 from a
// number or a decimal string and an enum from its name or its number. The
// fake records the number of an int32 and the name of an enum.
func TestDecodeSendProto3JSONValues(t *testing.T) {
	tests := []struct {
		name, message, raw string
	}{
		{"null apns payload",
			`{"token":"t","apns":{"headers":{"apns-priority":"10"},"payload":null}}`,
			`{"token":"t","apns":{"headers":{"apns-priority":"10"},"payload":null}}`},
		{"null webpush notification",
			`{"token":"t","webpush":{"notification":null}}`,
			`{"token":"t","webpush":{"notification":null}}`},
		{"null light settings and scalars",
			`{"token":"t","android":{"priority":null,"ttl":null,"notification":{"lightSettings":null,"notification_count":null,"visibility":null}}}`,
			`{"token":"t","android":{"priority":null,"ttl":null,"notification":{"light_settings":null,"notification_count":null,"visibility":null}}}`},
		{"int32 as a string",
			`{"token":"t","android":{"notification":{"notificationCount":"3"}}}`,
			`{"token":"t","android":{"notification":{"notification_count":3}}}`},
		{"android priority as a number",
			`{"token":"t","android":{"priority":1}}`,
			`{"token":"t","android":{"priority":"HIGH"}}`},
		{"notification enums as numbers",
			`{"token":"t","android":{"notification":{"notification_priority":5,"visibility":0}}}`,
			`{"token":"t","android":{"notification":{"notification_priority":"PRIORITY_MAX","visibility":"VISIBILITY_UNSPECIFIED"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, msg, raw, aerr := decodeSend([]byte(`{"message":` + tt.message + `}`))
			require.Nil(t, aerr, "refused: %v", aerr)
			assert.JSONEq(t, tt.raw, string(raw))
			if a := msg.APNS; a != nil {
				assert.Nil(t, a.Payload)
			}
			if w := msg.Webpush; w != nil {
				assert.Nil(t, w.Notification)
			}
			if a := msg.Android; a != nil && a.Notification != nil {
				assert.Nil(t, a.Notification.LightSettings)
			}
		})
	}

	_, msg, _, aerr := decodeSend([]byte(`{"message":{"token":"t","android":{"priority":0,"notification":{"notification_count":"-2","visibility":2}}}}`))
	require.Nil(t, aerr)
	require.NotNil(t, msg.Android)
	require.NotNil(t, msg.Android.Notification)
	assert.Equal(t, "NORMAL", msg.Android.Priority)
	assert.Equal(t, "PUBLIC", msg.Android.Notification.Visibility)
	require.NotNil(t, msg.Android.Notification.NotificationCount)
	assert.Equal(t, -2, *msg.Android.Notification.NotificationCount)
}

func TestDecodeSendInvalidProto3JSONValues(t *testing.T) {
	tests := []struct {
		name, message, field string
	}{
		{"int32 not a number", `{"token":"t","android":{"notification":{"notification_count":"x"}}}`, "message.android.notification.notification_count"},
		{"int32 fraction", `{"token":"t","android":{"notification":{"notification_count":1.5}}}`, "message.android.notification.notification_count"},
		{"int32 out of range", `{"token":"t","android":{"notification":{"notification_count":"2147483648"}}}`, "message.android.notification.notification_count"},
		{"int32 as bool", `{"token":"t","android":{"notification":{"notification_count":true}}}`, "message.android.notification.notification_count"},
		{"priority number out of range", `{"token":"t","android":{"priority":7}}`, "message.android.priority"},
		{"priority negative", `{"token":"t","android":{"priority":-1}}`, "message.android.priority"},
		{"priority unknown name", `{"token":"t","android":{"priority":"urgent"}}`, "message.android.priority"},
		{"visibility out of range", `{"token":"t","android":{"notification":{"visibility":4}}}`, "message.android.notification.visibility"},
		{"notification priority object", `{"token":"t","android":{"notification":{"notificationPriority":{}}}}`, "message.android.notification.notification_priority"},
		{"null message", `null`, "message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, aerr := decodeSend([]byte(`{"message":` + tt.message + `}`))
			require.NotNil(t, aerr)
			assert.Equal(t, 400, aerr.httpStatus)
			assert.Equal(t, "INVALID_ARGUMENT", aerr.status)
			require.Len(t, aerr.violations, 1, aerr.message)
			assert.Equal(t, tt.field, aerr.violations[0].Field, aerr.message)
		})
	}
}
