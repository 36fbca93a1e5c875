package shopify

import "time"

// SetRetryBackoff shortens the retry backoff so tests stay fast.
func SetRetryBackoff(a *App, d time.Duration) { a.backoff = d }
