package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/store"
)

// cpuMeter reads the CPU time (user + system, from /proc) that a phase of
// the benchmark costs each party: this process (worker or floor, and the
// fake LINE), the PostgreSQL backends connected to the bench database, and
// the benchmark's own Redis server. CPU time per batch does not grow with
// the machine's load the way wall-clock time does, so two phases run at
// different loads can still be compared. Linux only; a party whose /proc
// entry cannot be read counts as zero.
type cpuMeter struct {
	db       *store.DB
	redisPID int
}

// cpuSnap is the CPU time of each party at one moment, by PostgreSQL
// backend pid (backends come and go with the pools).
type cpuSnap struct {
	self, redis time.Duration
	pg          map[int]time.Duration
}

// cpuUse is a phase's CPU time by party.
type cpuUse struct{ Self, PG, Redis time.Duration }

func newCPUMeter(ctx context.Context, db *store.DB, rdb *redis.Client) *cpuMeter {
	m := &cpuMeter{db: db}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
				m.redisPID, _ = strconv.Atoi(v)
			}
		}
	}
	return m
}

// procCPU is a process's user + system CPU time from /proc/<pid>/stat
// (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

func (m *cpuMeter) snap(ctx context.Context) cpuSnap {
	s := cpuSnap{self: procCPU("self"), pg: map[int]time.Duration{}}
	if m.redisPID != 0 {
		s.redis = procCPU(strconv.Itoa(m.redisPID))
	}
	var pids []int
	m.db.WithContext(ctx).Raw("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'").Scan(&pids)
	for _, p := range pids {
		s.pg[p] = procCPU(strconv.Itoa(p))
	}
	return s
}

// since is the CPU time used from a to b; a backend that was not there at
// a counts from zero, one gone by b is lost (pools keep theirs open).
func (b cpuSnap) since(a cpuSnap) cpuUse {
	u := cpuUse{Self: b.self - a.self, Redis: b.redis - a.redis}
	for p, t := range b.pg {
		u.PG += t - a.pg[p]
	}
	return u
}

func (u cpuUse) perBatch(n int) string {
	if n <= 0 {
		return "-"
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	return fmt.Sprintf("%.2f ms (this process %.2f, PostgreSQL backends %.2f, Redis %.2f)",
		ms(u.Self+u.PG+u.Redis), ms(u.Self), ms(u.PG), ms(u.Redis))
}
