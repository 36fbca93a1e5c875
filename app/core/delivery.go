package core

import (
	"sync"
	"time"

	"github.com/tsunagu/tsunagu/templates"
)

// Delivery rules: how long a message keeps trying, when it stops making
// sense, and when a channel is left alone because LINE is failing.

// retrySteps is the wait after the nth transient failure of a send. It
// spans hours so a LINE outage of any realistic length loses nothing; the
// message's deadline, not a retry count, ends the attempts.
var retrySteps = []time.Duration{
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
}

// SendRetryDelay is the wait before the next try after failures transient
// failures in a row (1 or more); after the schedule it repeats hourly.
func SendRetryDelay(failures int) time.Duration {
	if failures < 1 {
		failures = 1
	}
	if failures > len(retrySteps) {
		return retrySteps[len(retrySteps)-1]
	}
	return retrySteps[failures-1]
}

// ReasonExpired is recorded on a message skipped because its deadline passed.
const ReasonExpired = "expired"

// ReasonExpiredUnderCap is recorded on a message the daily cap would have
// pushed past its deadline: skipped when the cap is met, not sent late.
const ReasonExpiredUnderCap = "expired_under_cap"

// MessageDeadline is when a message of kind planned for at stops making
// sense: the kind's Expiry in the catalogue. A cart reminder a day late is
// worse than none; a thank-you two days late reads odd; a shipping notice
// is useful while the parcel travels.
func MessageDeadline(kind string, at time.Time) time.Time {
	return at.Add(templates.ExpiryOf(kind))
}

// ResendWindow is how long LINE remembers an X-Line-Retry-Key: an operator's
// re-send within it reuses the key, so LINE refuses a second delivery of a
// message that did arrive.
const ResendWindow = 24 * time.Hour

// Breaker is a circuit breaker per LINE channel. After Threshold transient
// failures in a row a channel opens: sends wait instead of spending their
// attempts, and one probe is let through per Cooldown (doubling up to
// MaxCooldown) until a send succeeds. It lives in one process; each process
// learns the outage on its own within Threshold sends.
type Breaker struct {
	Threshold   int
	Cooldown    time.Duration
	MaxCooldown time.Duration

	mu  sync.Mutex
	chs map[string]*channelState
}

type channelState struct {
	failures int
	openedAt time.Time
	cooldown time.Duration
	probing  bool
}

// NewBreaker returns a breaker with the production settings.
func NewBreaker() *Breaker {
	return &Breaker{Threshold: 5, Cooldown: 15 * time.Second, MaxCooldown: time.Minute}
}

// Allow reports whether a send on channel may go now; when not, it returns
// when to try again. A nil breaker allows everything.
func (b *Breaker) Allow(channel string, now time.Time) (bool, time.Time) {
	if b == nil {
		return true, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.chs[channel]
	if s == nil || s.failures < b.Threshold {
		return true, time.Time{}
	}
	retry := s.openedAt.Add(s.cooldown)
	if now.Before(retry) || s.probing {
		if !retry.After(now) {
			retry = now.Add(b.Cooldown)
		}
		return false, retry
	}
	s.probing = true // half-open: this send is the probe
	return true, time.Time{}
}

// Success closes the channel's breaker.
func (b *Breaker) Success(channel string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.chs, channel)
}

// Failure counts a transient failure on channel at now.
func (b *Breaker) Failure(channel string, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.chs == nil {
		b.chs = map[string]*channelState{}
	}
	s := b.chs[channel]
	if s == nil {
		s = &channelState{}
		b.chs[channel] = s
	}
	s.failures++
	if s.failures < b.Threshold {
		return
	}
	switch {
	case s.cooldown == 0:
		s.cooldown = b.Cooldown
	case s.probing:
		s.cooldown = min(2*s.cooldown, b.MaxCooldown)
	}
	s.openedAt, s.probing = now, false
}

// OpenUntil reports whether channel's breaker is open and when it next
// lets a probe through: held sends wait until then, so they go within one
// cooldown (at most MaxCooldown) of LINE's recovery.
func (b *Breaker) OpenUntil(channel string) (time.Time, bool) {
	if b == nil {
		return time.Time{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.chs[channel]
	if s == nil || s.failures < b.Threshold {
		return time.Time{}, false
	}
	return s.openedAt.Add(s.cooldown), true
}

// Done releases a probe that ended without telling success or failure
// (the send was skipped, or the process is stopping).
func (b *Breaker) Done(channel string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.chs[channel]; s != nil {
		s.probing = false
	}
}
