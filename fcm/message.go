package fcm

import (
	"encoding/json"
	"time"
)

// Message is an FCM HTTP v1 message. Set exactly one target (Token, FID,
// Topic or Condition). A Message is plain data: it is safe to share between
// goroutines as long as nobody modifies it while it is being sent.
type Message struct {
	// Token is the registration token of the device to send to.
	Token string
	// FID is the Firebase installation id of the app instance to send to.
	FID string
	// Topic is a topic name (with or without the "/topics/" prefix).
	Topic string
	// Condition is a topic condition such as "'a' in topics && 'b' in topics".
	Condition string

	// Notification is the platform-independent visible notification.
	Notification *Notification
	// Data is delivered to the app as string key/value pairs. Keys "from",
	// "message_type" and keys starting with "google." or "gcm." are reserved.
	Data map[string]string

	// Android holds Android-specific options.
	Android *AndroidConfig
	// APNS holds Apple-specific options.
	APNS *APNSConfig
	// Webpush holds Web-push-specific options.
	Webpush *WebpushConfig
	// FCMOptions holds platform-independent FCM options.
	FCMOptions *FCMOptions

	// ValidateOnly asks FCM to validate the message without delivering it
	// (the request's validate_only flag, a dry run).
	ValidateOnly bool
}

// Notification is the basic notification template used on all platforms.
type Notification struct {
	Title string
	Body  string
	// Image is the URL of an image to show in the notification.
	Image string
}

// AndroidPriority is the delivery priority of an Android message.
type AndroidPriority string

// Android priorities.
const (
	// AndroidPriorityNormal lets the device delay delivery to save power.
	AndroidPriorityNormal AndroidPriority = "normal"
	// AndroidPriorityHigh wakes a sleeping device.
	AndroidPriorityHigh AndroidPriority = "high"
)

// MaxTTL is the longest time-to-live FCM accepts (28 days).
const MaxTTL = 28 * 24 * time.Hour

// AndroidConfig holds Android-specific options.
type AndroidConfig struct {
	// CollapseKey groups messages so that only the last one is delivered when
	// delivery resumes.
	CollapseKey string
	// Priority is "normal" or "high"; empty means FCM's default.
	Priority AndroidPriority
	// TTL is how long FCM keeps the message when the device is offline;
	// nil means FCM's default (4 weeks), a pointer to 0 means deliver now or
	// never. At most [MaxTTL].
	TTL *time.Duration
	// RestrictedPackageName is the package name the token must belong to.
	RestrictedPackageName string
	// Data, when set, replaces Message.Data for Android devices.
	Data map[string]string
	// Notification is the Android notification.
	Notification *AndroidNotification
	// FCMOptions holds Android-specific FCM options.
	FCMOptions *FCMOptions
	// DirectBootOK allows delivery while the device is in direct boot mode.
	DirectBootOK bool
}

// AndroidNotification is a notification shown on Android devices. Its fields
// are those of FCM's AndroidNotification of the same names (title, body,
// icon, color as #rrggbb, sound, tag, click_action, localization keys and
// arguments, channel_id, image URL); empty fields are omitted.
type AndroidNotification struct {
	Title        string
	Body         string
	Icon         string
	Color        string
	Sound        string
	Tag          string
	ClickAction  string
	BodyLocKey   string
	BodyLocArgs  []string
	TitleLocKey  string
	TitleLocArgs []string
	ChannelID    string
	Image        string
}

// APNSConfig holds Apple-specific options, passed through to APNs.
type APNSConfig struct {
	// Headers are APNs request headers (apns-priority, apns-push-type, ...).
	Headers map[string]string
	// Payload is the APNs JSON payload object, for example
	// {"aps":{"mutable-content":1}}. It must be a JSON object.
	Payload json.RawMessage
	// FCMOptions holds APNs-specific FCM options.
	FCMOptions *APNSFCMOptions
}

// APNSFCMOptions holds FCM options for APNs.
type APNSFCMOptions struct {
	AnalyticsLabel string
	// Image is the URL of an image to show in the notification.
	Image string
}

// WebpushConfig holds Web-push-specific options.
type WebpushConfig struct {
	// Headers are Web Push protocol headers (TTL, Urgency, ...).
	Headers map[string]string
	// Data, when set, replaces Message.Data for web clients.
	Data map[string]string
	// Notification is a Web Notification options object as JSON. It must
	// be a JSON object when set.
	Notification json.RawMessage
	// FCMOptions holds Web-push-specific FCM options.
	FCMOptions *WebpushFCMOptions
}

// WebpushFCMOptions holds FCM options for Web push.
type WebpushFCMOptions struct {
	// Link is the URL opened when the user clicks the notification (HTTPS).
	Link           string
	AnalyticsLabel string
}

// FCMOptions holds platform-independent FCM options.
type FCMOptions struct {
	// AnalyticsLabel labels the message in FCM's delivery analytics.
	AnalyticsLabel string
}
