package connector

// RateLimitedClients reports how many client addresses the rate limiter
// tracks (tests only).
func RateLimitedClients(c *Connector) int {
	if c.limiter == nil {
		return 0
	}
	return c.limiter.size()
}
