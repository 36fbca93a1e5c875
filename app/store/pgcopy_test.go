package store_test

import (
	"context"
	"math/big"
	"math/rand"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/tsunagu/tsunagu/app/testenv"
)

// The history import writes numerics and timestamps in PostgreSQL's binary
// COPY form by hand; PostgreSQL must read back exactly the value and the
// display scale given, for edge cases and thousands of random values.
func TestPGCopyEncodingRoundTrips(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	rng := rand.New(rand.NewSource(20261203))
	var vs []decimal.Decimal
	for _, s := range []string{"0", "0.0", "0.00", "1", "-1", "9999", "10000", "10001", "0.0001", "0.00001", "-0.5",
		"99999999.9999", "100000000", "12345678901234567890.123456789", "1e6", "-3e-9", "7.250"} {
		vs = append(vs, decimal.RequireFromString(s))
	}
	for range 5000 {
		coef := new(big.Int).Rand(rng, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(1+rng.Intn(24))), nil))
		if rng.Intn(4) == 0 {
			coef.Neg(coef)
		}
		vs = append(vs, decimal.NewFromBigInt(coef, int32(rng.Intn(21)-14)))
	}
	ts := make([]time.Time, len(vs))
	for i := range ts {
		ts[i] = time.Unix(rng.Int63n(4e9)-1e9, int64(rng.Intn(1e6))*1000).UTC()
	}
	nums, times, err := db.CopyRoundTrip(context.Background(), vs, ts)
	if err != nil {
		t.Fatalf("copying: %v", err)
	}
	if len(nums) != len(vs) {
		t.Fatalf("read back %d rows, want %d", len(nums), len(vs))
	}
	for i, v := range vs {
		got, err := decimal.NewFromString(nums[i])
		scale := int32(0)
		if v.Exponent() < 0 {
			scale = -v.Exponent()
		}
		if err != nil || !got.Equal(v) || -got.Exponent() != scale && !(scale == 0 && got.Exponent() >= 0) {
			t.Errorf("numeric %s (exponent %d) stored as %q", v, v.Exponent(), nums[i])
		}
		if want := ts[i].Format("2006-01-02T15:04:05.000000"); times[i] != want {
			t.Errorf("timestamptz %v stored as %q, want %q", ts[i], times[i], want)
		}
	}
}
