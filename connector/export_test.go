package connector

// RateLimitedClients reports how many client addresses the rate limiter
// tracks (tests only).
func RateLimitedClients(c *Connector) int {
	if c.limiter == nil {
		return 0
	}
	return c.limiter.size()
}

// SealAD is the additional data a configuration is sealed with (tests
// only).
func SealAD(id string) []byte { return sealAD(id) }
