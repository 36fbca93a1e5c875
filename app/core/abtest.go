package core

import "math"

// Verdicts of an A/B comparison.
const (
	VerdictNotEnoughData = "not_enough_data"
	VerdictNoDifference  = "no_difference"
	VerdictSignificant   = "significant"
)

// MinOutcomes is how many successes and failures each variant needs before
// the normal approximation behind the two-proportion test holds (the usual
// rule of thumb is 5 to 10; 10 is the cautious end).
const MinOutcomes = 10

// ABArm is one variant's trials (messages delivered) and successes (clicks
// or conversions).
type ABArm struct {
	Name      string `json:"name"`
	Trials    int64  `json:"trials"`
	Successes int64  `json:"successes"`
}

// Rate is the arm's success rate, 0 without trials.
func (a ABArm) Rate() float64 {
	if a.Trials <= 0 {
		return 0
	}
	return float64(a.Successes) / float64(a.Trials)
}

// ABResult is an honest answer to "which variant won": a two-sided
// two-proportion z-test at 95 %, refusing to answer on too little data.
type ABResult struct {
	Verdict string  `json:"verdict"`
	Leader  string  `json:"leader,omitempty"`
	RateA   float64 `json:"rate_a"`
	RateB   float64 `json:"rate_b"`
	Z       float64 `json:"z"`
	P       float64 `json:"p"`
	// Lift is B's rate relative to A's (0.25 = 25 % better), 0 when A is 0.
	Lift float64 `json:"lift"`
}

// CompareAB compares two arms with a pooled two-proportion z-test.
func CompareAB(a, b ABArm) ABResult {
	r := ABResult{RateA: a.Rate(), RateB: b.Rate(), P: 1}
	if r.RateA > 0 {
		r.Lift = r.RateB/r.RateA - 1
	}
	for _, arm := range []ABArm{a, b} {
		if arm.Successes < MinOutcomes || arm.Trials-arm.Successes < MinOutcomes {
			r.Verdict = VerdictNotEnoughData
			return r
		}
	}
	pooled := float64(a.Successes+b.Successes) / float64(a.Trials+b.Trials)
	se := math.Sqrt(pooled * (1 - pooled) * (1/float64(a.Trials) + 1/float64(b.Trials)))
	if se == 0 {
		r.Verdict = VerdictNoDifference
		return r
	}
	r.Z = (r.RateB - r.RateA) / se
	r.P = math.Erfc(math.Abs(r.Z) / math.Sqrt2) // two-sided
	r.Leader = a.Name
	if r.RateB > r.RateA {
		r.Leader = b.Name
	}
	if r.P < 0.05 {
		r.Verdict = VerdictSignificant
	} else {
		r.Verdict = VerdictNoDifference
	}
	return r
}
