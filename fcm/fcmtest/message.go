package fcmtest

import "encoding/json"

// Received is a message the fake accepted.
type Received struct {
	// Project is the project id from the request path.
	Project string
	// Name is the message name the fake answered with.
	Name string
	// Message is the decoded message.
	Message Message
	// Raw is the message object as received, compacted, with its fields
	// under their proto (snake_case) names whichever names the client
	// used (see [Message]).
	Raw json.RawMessage
}

// Message is the FCM v1 message schema the fake accepts. As FCM, which
// reads proto3 JSON, the fake accepts each field under its proto name
// (snake_case, "collapse_key", the JSON tags here) or its JSON name
// (lowerCamelCase, "collapseKey", the names of Google's REST reference and
// of the google-api-go-client), spelled exactly, but not under both. Unknown
// names and fields given twice are refused, as FCM does; so are they in
// android.notification.light_settings, kept here as raw JSON. The keys of
// maps (data, headers) and of free-form objects (apns.payload,
// webpush.notification) are the client's own.
type Message struct {
	Token        string            `json:"token,omitempty"`
	FID          string            `json:"fid,omitempty"`
	Topic        string            `json:"topic,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Name         string            `json:"name,omitempty"`
	Notification *Notification     `json:"notification,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Android      *AndroidConfig    `json:"android,omitempty"`
	APNS         *APNSConfig       `json:"apns,omitempty"`
	Webpush      *WebpushConfig    `json:"webpush,omitempty"`
	FCMOptions   *FCMOptions       `json:"fcm_options,omitempty"`
}

// Notification is the platform-independent notification.
type Notification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Image string `json:"image,omitempty"`
}

// AndroidConfig is the android block.
type AndroidConfig struct {
	CollapseKey            string               `json:"collapse_key,omitempty"`
	Priority               string               `json:"priority,omitempty"`
	TTL                    string               `json:"ttl,omitempty"`
	RestrictedPackageName  string               `json:"restricted_package_name,omitempty"`
	Data                   map[string]string    `json:"data,omitempty"`
	Notification           *AndroidNotification `json:"notification,omitempty"`
	FCMOptions             *FCMOptions          `json:"fcm_options,omitempty"`
	DirectBootOK           bool                 `json:"direct_boot_ok,omitempty"`
	BandwidthConstrainedOK bool                 `json:"bandwidth_constrained_ok,omitempty"`
	RestrictedSatelliteOK  bool                 `json:"restricted_satellite_ok,omitempty"`
}

// AndroidNotification is the android.notification block. Fields the fake
// does not inspect are kept as raw JSON.
type AndroidNotification struct {
	Title                   string          `json:"title,omitempty"`
	Body                    string          `json:"body,omitempty"`
	Icon                    string          `json:"icon,omitempty"`
	Color                   string          `json:"color,omitempty"`
	Sound                   string          `json:"sound,omitempty"`
	Tag                     string          `json:"tag,omitempty"`
	ClickAction             string          `json:"click_action,omitempty"`
	BodyLocKey              string          `json:"body_loc_key,omitempty"`
	BodyLocArgs             []string        `json:"body_loc_args,omitempty"`
	TitleLocKey             string          `json:"title_loc_key,omitempty"`
	TitleLocArgs            []string        `json:"title_loc_args,omitempty"`
	ChannelID               string          `json:"channel_id,omitempty"`
	Ticker                  string          `json:"ticker,omitempty"`
	Sticky                  bool            `json:"sticky,omitempty"`
	EventTime               string          `json:"event_time,omitempty"`
	LocalOnly               bool            `json:"local_only,omitempty"`
	NotificationPriority    string          `json:"notification_priority,omitempty"`
	DefaultSound            bool            `json:"default_sound,omitempty"`
	DefaultVibrateTimings   bool            `json:"default_vibrate_timings,omitempty"`
	DefaultLightSettings    bool            `json:"default_light_settings,omitempty"`
	VibrateTimings          []string        `json:"vibrate_timings,omitempty"`
	Visibility              string          `json:"visibility,omitempty"`
	NotificationCount       *int            `json:"notification_count,omitempty"`
	LightSettings           json.RawMessage `json:"light_settings,omitempty"`
	Image                   string          `json:"image,omitempty"`
	BypassProxyNotification bool            `json:"bypass_proxy_notification,omitempty"`
	Proxy                   string          `json:"proxy,omitempty"`
}

// APNSConfig is the apns block.
type APNSConfig struct {
	Headers           map[string]string `json:"headers,omitempty"`
	Payload           json.RawMessage   `json:"payload,omitempty"`
	FCMOptions        *APNSFCMOptions   `json:"fcm_options,omitempty"`
	LiveActivityToken string            `json:"live_activity_token,omitempty"`
}

// APNSFCMOptions is apns.fcm_options.
type APNSFCMOptions struct {
	AnalyticsLabel string `json:"analytics_label,omitempty"`
	Image          string `json:"image,omitempty"`
}

// WebpushConfig is the webpush block.
type WebpushConfig struct {
	Headers      map[string]string  `json:"headers,omitempty"`
	Data         map[string]string  `json:"data,omitempty"`
	Notification json.RawMessage    `json:"notification,omitempty"`
	FCMOptions   *WebpushFCMOptions `json:"fcm_options,omitempty"`
}

// WebpushFCMOptions is webpush.fcm_options.
type WebpushFCMOptions struct {
	Link           string `json:"link,omitempty"`
	AnalyticsLabel string `json:"analytics_label,omitempty"`
}

// FCMOptions is the fcm_options block.
type FCMOptions struct {
	AnalyticsLabel string `json:"analytics_label,omitempty"`
}
