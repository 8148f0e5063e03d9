package dispatch

import (
	"strconv"
	"strings"

	"github.com/pushwire/pushwire"
	"github.com/pushwire/pushwire/registry"
)

// Label keys dispatch reads from [registry.Device.Labels].
const (
	// LabelDevice names the physical device a binding belongs to (any
	// value unique per phone within the session, such as the phone's
	// LPNS device id or a hardware id). Bindings of one session with the
	// same value are one phone: it gets one push, local first.
	LabelDevice = "device"
	// LabelPlatform is "ios" or "android" (case-insensitive). Without it
	// an APNs binding is iOS, an FCM binding Android.
	LabelPlatform = "platform"
	// LabelNoCallKit, set to a true value ("true", "1"), marks an iOS
	// device that must not use CallKit (Cisco's "iOS13 Push Notification
	// (China Region)"): [DefaultShape] sends it a visible alert with the
	// caller's name and number instead of a VoIP push.
	LabelNoCallKit = "nocallkit"
)

// Data keys of a call message ([pushwire.KindVoIP]) that [DefaultShape]
// reads for the visible alert of a device without CallKit.
const (
	DataCallerName   = "callerName"
	DataCallerNumber = "callerNumber"
)

// Alert title of the call notification of a device without CallKit.
const CallAlertTitle = "Incoming call"

// ShapeFunc turns the provider-neutral message of a call to Notify into the
// message device d gets (its Token is set to d.Token and its PayloadKeys to
// d.PayloadKeys when left empty; msg comes without keys). It must not modify
// msg.Data, which every device's message shares, and must be safe for
// concurrent use.
type ShapeFunc func(msg pushwire.Message, d registry.Device) pushwire.Message

// DefaultShape is the default [Config.Shape]:
//
//   - the token is the binding's; for APNs an empty Topic becomes the
//     binding's AppID (the bundle id; the apns client adds ".voip" to the
//     topic of a VoIP push);
//   - a VoIP call ([pushwire.KindVoIP]) goes to iOS as an APNs voip push,
//     over local push as a voip message, and to FCM as a high-priority
//     data message (Android has no VoIP push);
//   - to an iOS device labelled [LabelNoCallKit], a VoIP call becomes a
//     visible alert at high priority: title [CallAlertTitle], body the
//     caller's name and number ([DataCallerName], [DataCallerNumber]),
//     the call's data kept;
//   - data messages stay data-only, alerts stay alerts;
//   - the message carries the binding's payload keys, so that a sealing
//     step ([Config.Seal], or a sealing sender) seals it for that device.
func DefaultShape(msg pushwire.Message, d registry.Device) pushwire.Message {
	msg.Token = d.Token
	msg.PayloadKeys = d.PayloadKeys
	switch d.Provider {
	case pushwire.ProviderAPNs:
		if msg.Topic == "" {
			msg.Topic = d.AppID
		}
		if msg.Kind == pushwire.KindVoIP && noCallKit(d) {
			msg.Kind = pushwire.KindAlert
			msg.Priority = pushwire.PriorityHigh
			msg.Title = CallAlertTitle
			msg.Body = callerID(msg.Data)
		}
	case pushwire.ProviderFCM:
		if msg.Kind == pushwire.KindVoIP {
			msg.Kind = pushwire.KindData
			msg.Priority = pushwire.PriorityHigh
		}
	}
	return msg
}

func noCallKit(d registry.Device) bool {
	v, ok := d.Labels[LabelNoCallKit]
	if !ok {
		return false
	}
	if p := d.Labels[LabelPlatform]; p != "" && !strings.EqualFold(p, "ios") {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// callerID is "name (number)", or whichever of the two is known.
func callerID(data map[string]string) string {
	name, num := data[DataCallerName], data[DataCallerNumber]
	switch {
	case name != "" && num != "":
		return name + " (" + num + ")"
	case name != "":
		return name
	case num != "":
		return num
	}
	return "Unknown caller"
}
