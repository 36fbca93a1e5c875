package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/core"
)

// Staff sign-in limits. argon2id costs 19 MiB and tens of milliseconds per
// check, so sign-in is bounded three ways, the last two in Redis so that
// every process shares them:
//
//   - a global cap: at most GOMAXPROCS password checks run at once in a
//     process; an attempt waits up to signinSlotWait for a slot and is
//     then answered 503;
//   - per client (IPv4 address or IPv6 /64): signinPerClient attempts a
//     minute, whatever the account;
//   - per (client, account): after signinMaxFails failures within
//     signinFailWindow that client may not try that account again until the
//     window passes. Only the pair is locked, so a stranger who knows a
//     staff email locks out himself, not the person;
//   - per account: a client that has already failed on an account shares
//     a slow refill (signinAccountLimit) with every other such client;
//     over it, it is told to retry in seconds. A client with no failure
//     on the account is never held back by it, so the real user, with the
//     right password, still gets in while strangers guess.
const (
	signinSlotWait   = 2 * time.Second
	signinPerClient  = 30
	signinMaxFails   = 5
	signinFailWindow = 15 * time.Minute
)

// signinAccountLimit: a burst of 10 guesses, then 20 per 15 minutes.
var signinAccountLimit = redis_rate.Limit{Rate: 20, Burst: 10, Period: 15 * time.Minute}

// errSigninBusy is returned when no password-check slot frees up in time.
var errSigninBusy = core.Errorf(core.EUNAVAILABLE, "too many sign-ins at once, try again in a moment")

// signinGuard holds the process-wide cap on concurrent password hashing.
type signinGuard struct {
	slots chan struct{}
	wait  time.Duration
	// check verifies a password against a hash (checkPassword; tests wrap
	// it to count how many run at once).
	check func(hash, pw string) bool
}

func newSigninGuard(n int) *signinGuard {
	return &signinGuard{slots: make(chan struct{}, max(1, n)), wait: signinSlotWait, check: checkPassword}
}

// acquire takes a hashing slot, waiting up to g.wait.
func (g *signinGuard) acquire(ctx context.Context) (func(), error) {
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
		return nil, errSigninBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// verify checks pw against hash inside a slot.
func (g *signinGuard) verify(ctx context.Context, hash, pw string) (bool, error) {
	release, err := g.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return g.check(hash, pw), nil
}

// hash hashes a new password inside a slot.
func (g *signinGuard) hash(ctx context.Context, pw string) (string, error) {
	release, err := g.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return hashPassword(pw)
}

// signinVerdict is what the limits say about an attempt before the password is checked.
type signinVerdict struct {
	allowed    bool
	retryAfter time.Duration
	reason     string
}

func signinKeys(client, account string) (clientKey, pairKey, accountKey string) {
	return "tsunagu:signin:client:" + hashKey(client),
		"tsunagu:signin:fail:" + hashKey(client+"\x00"+account),
		"tsunagu:signin:account:" + hashKey(account)
}

// signinAllowed applies the per-client, per-pair and per-account limits to
// an attempt by client on account ("shop|email").
func (a *App) signinAllowed(ctx context.Context, client, account string) (signinVerdict, error) {
	ck, pk, ak := signinKeys(client, account)
	res, err := a.rate.Allow(ctx, ck, redis_rate.PerMinute(signinPerClient))
	if err != nil {
		return signinVerdict{}, fmt.Errorf("sign-in client limit: %w", err)
	}
	if res.Allowed == 0 {
		return signinVerdict{retryAfter: res.RetryAfter, reason: "client"}, nil
	}
	fails, err := a.rdb.Get(ctx, pk).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return signinVerdict{}, fmt.Errorf("sign-in failures: %w", err)
	}
	if fails >= signinMaxFails {
		ttl, _ := a.rdb.TTL(ctx, pk).Result()
		return signinVerdict{retryAfter: max(ttl, time.Second), reason: "pair"}, nil
	}
	if fails > 0 {
		res, err := a.rate.Allow(ctx, ak, signinAccountLimit)
		if err != nil {
			return signinVerdict{}, fmt.Errorf("sign-in account limit: %w", err)
		}
		if res.Allowed == 0 {
			return signinVerdict{retryAfter: res.RetryAfter, reason: "account"}, nil
		}
	}
	return signinVerdict{allowed: true}, nil
}

// countFailure increments a failure count; the window starts at the first.
var countFailure = redis.NewScript(`local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// signinFailed counts a failed attempt for the pair and the account.
func (a *App) signinFailed(ctx context.Context, client, account string) {
	_, pk, ak := signinKeys(client, account)
	n, err := countFailure.Run(ctx, a.rdb, []string{pk}, signinFailWindow.Milliseconds()).Int()
	if err != nil {
		a.Log.Warn("counting a failed sign-in", "err", err)
		return
	}
	// A clean client's first failure was not held back, but it drains the
	// account's refill for the clients that failed before (later attempts
	// took their share in signinAllowed).
	if n == 1 {
		if _, err := a.rate.Allow(ctx, ak, signinAccountLimit); err != nil {
			a.Log.Warn("counting a failed sign-in", "err", err)
		}
	}
}

// signinSucceeded clears the pair's failures.
func (a *App) signinSucceeded(ctx context.Context, client, account string) {
	_, pk, _ := signinKeys(client, account)
	if err := a.rdb.Del(ctx, pk).Err(); err != nil {
		a.Log.Warn("clearing sign-in failures", "err", err)
	}
}

func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
