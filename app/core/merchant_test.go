package core

import (
	"math"
	"testing"
	"time"

	"github.com/tsunagu/tsunagu/app/store"
)

func TestCompareAB(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		a, b    ABArm
		verdict string
		leader  string
	}{
		{"three clicks is not a winner", ABArm{"A", 100, 1}, ABArm{"B", 100, 3}, VerdictNotEnoughData, ""},
		{"too few failures", ABArm{"A", 20, 15}, ABArm{"B", 20, 12}, VerdictNotEnoughData, ""},
		{"clear difference", ABArm{"A", 1000, 50}, ABArm{"B", 1000, 100}, VerdictSignificant, "B"},
		{"A ahead clearly", ABArm{"A", 1000, 120}, ABArm{"B", 1000, 60}, VerdictSignificant, "A"},
		{"noise", ABArm{"A", 500, 25}, ABArm{"B", 500, 30}, VerdictNoDifference, "B"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := CompareAB(tc.a, tc.b)
			if r.Verdict != tc.verdict || r.Leader != tc.leader {
				t.Errorf("verdict %s leader %q, want %s %q (p=%.4f)", r.Verdict, r.Leader, tc.verdict, tc.leader, r.P)
			}
		})
	}
	// 5% vs 10% of 1000 each: z ≈ 4.245 (pooled SE 0.01178), p ≈ 2.2e-5.
	r := CompareAB(ABArm{"A", 1000, 50}, ABArm{"B", 1000, 100})
	if math.Abs(r.Z-4.245) > 0.001 || r.P > 1e-4 || math.Abs(r.Lift-1) > 1e-9 {
		t.Errorf("z=%.3f p=%g lift=%.2f", r.Z, r.P, r.Lift)
	}
}

func TestForecastSend(t *testing.T) {
	t.Parallel()
	f := ForecastSend(1200, 3, nil)
	if f.CostYen != 3600 || f.QuotaRemaining != nil || f.OverQuota {
		t.Errorf("no quota: %+v", f)
	}
	left := int64(1000)
	f = ForecastSend(1200, 3, &left)
	if !f.OverQuota || *f.QuotaAfter != 0 {
		t.Errorf("over quota: %+v", f)
	}
	left = 5000
	f = ForecastSend(1200, 3, &left)
	if f.OverQuota || *f.QuotaAfter != 3800 {
		t.Errorf("within quota: %+v", f)
	}
}

func TestBuildFunnel(t *testing.T) {
	t.Parallel()
	c := store.FunnelCounts{InSegment: 100, Linked: 60, Friend: 50, NotBlocked: 45, UnderCap: 40}
	f := buildFunnel(c, 2, false, time.Time{})
	want := []int64{100, 60, 50, 45, 40, 40}
	lost := []int64{0, 40, 10, 5, 5, 0}
	for i, s := range f.Steps {
		if s.Count != want[i] || s.Lost != lost[i] {
			t.Errorf("step %s: %d (-%d), want %d (-%d)", s.Key, s.Count, s.Lost, want[i], lost[i])
		}
	}
	if f.Reachable != 40 || f.QuietNow {
		t.Errorf("reachable %d quiet %v", f.Reachable, f.QuietNow)
	}
	until := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f = buildFunnel(c, 2, true, until)
	if f.Reachable != 0 || f.ReachableLater != 40 || f.Steps[5].Lost != 40 || !f.QuietUntil.Equal(until) {
		t.Errorf("quiet funnel: %+v", f)
	}
}

func TestStaffLineCode(t *testing.T) {
	t.Parallel()
	code := NewStaffLineCode()
	if got, ok := StaffLineCodeIn("  " + code + "\n"); !ok || got != code {
		t.Fatalf("%q not recognised (%q %v)", code, got, ok)
	}
	if got, ok := StaffLineCodeIn(toLower(code)); !ok || got != code {
		t.Errorf("lower case not recognised")
	}
	for _, s := range []string{"", "TSUNAGU-", "TSUNAGU-ABCD-EFG0", "hello", "TSUNAGU-ABCDEFGHJ", "TSUNAGU-ABCD-EFGH extra"} {
		if _, ok := StaffLineCodeIn(s); ok {
			t.Errorf("%q taken for a code", s)
		}
	}
	if NewStaffLineCode() == code {
		t.Error("two codes alike")
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
