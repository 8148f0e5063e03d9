package lpns

import (
	"context"
	"time"
)

// Cluster lets several Server nodes act as one: a session directory (device →
// node) and a routing bus that carries a notification to the node holding the
// device and its outcome back. Package lpns/lpnsredis implements it on Redis.
// A Server takes ownership of its Cluster: it calls Start in NewServer, with
// NewServer's context, and Close once, in the first Shutdown or Close.
// Implementations must be safe for concurrent use.
type Cluster interface {
	// Start begins receiving routed requests for node, handled by h. ctx
	// bounds the start only (subscribing, connecting); it is not retained.
	Start(ctx context.Context, node string, h ClusterHandler) error
	// Claim records that deviceID is connected to this node for ttl and asks
	// the node that held it before, if any, to drop its older connection.
	Claim(ctx context.Context, deviceID string, ttl time.Duration) error
	// Refresh extends this node's claim. It returns false when another node
	// has claimed the device since (this connection was replaced).
	Refresh(ctx context.Context, deviceID string, ttl time.Duration) (bool, error)
	// Release removes this node's claim, if it still holds it.
	Release(ctx context.Context, deviceID string) error
	// Route delivers a notification through the node holding deviceID and
	// waits for its outcome until ctx ends. It returns nil when acknowledged,
	// or an error matching ErrNotConnected, ErrNotAcknowledged or
	// ErrPayloadTooLarge.
	Route(ctx context.Context, deviceID, id string, payload []byte) error
	// Disconnect asks the node holding deviceID to close its connection with
	// reason (a DisconnectReason). It reports whether a node held it.
	Disconnect(ctx context.Context, deviceID, reason string) (bool, error)
	// Close stops receiving and releases resources.
	Close() error
}

// ClusterHandler is the node side of a Cluster: the Server passes one to
// Cluster.Start.
type ClusterHandler interface {
	// DeliverLocal delivers to a device connected to this node and waits for
	// its ack until ctx ends (errors as for Cluster.Route).
	DeliverLocal(ctx context.Context, deviceID, id string, payload []byte) error
	// DisconnectLocal closes the device's connection on this node with
	// reason ("replaced" or a DisconnectReason); it reports whether there was one.
	DisconnectLocal(deviceID, reason string) bool
}
