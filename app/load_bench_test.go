package app

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// postLoad sends b.N POSTs from 16 goroutines, body i built before the
// timer starts, and reports events/s (perReq events a request) and the
// p50/p99 request latency. A non-200 answer, or one ok refuses, fails b.
func postLoad(b *testing.B, url, contentType string, body func() []byte, header func(req *http.Request, body []byte), ok func([]byte) bool, perReq int) time.Duration {
	return postLoadStats(b, url, contentType, body, header, ok, perReq).elapsed
}

// loadStats is what postLoadStats measured: requests answered, the time
// they took and the process's CPU time meanwhile.
type loadStats struct {
	requests     int
	elapsed, cpu time.Duration
}

// postLoadStats is postLoad returning its measurements.
func postLoadStats(b *testing.B, url, contentType string, body func() []byte, header func(req *http.Request, body []byte), ok func([]byte) bool, perReq int) loadStats {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = body()
	}
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetParallelism(8) // 16 senders on 2 cores
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		for pb.Next() {
			i := next.Add(1) - 1
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", contentType)
			if header != nil {
				header(req, bodies[i])
			}
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			res, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != http.StatusOK || (ok != nil && !ok(res)) {
				b.Errorf("status %d: %s", resp.StatusCode, res)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return loadStats{elapsed: elapsed, cpu: cpu}
	}
	b.ReportMetric(float64(len(lat)*perReq)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-us/req")
	return loadStats{requests: len(lat), elapsed: elapsed, cpu: cpu}
}

// processCPU is the CPU time (user + system) this process has used: the
// server under test and the senders together. Per request it grows far
// less with the machine's load than time does, so a server and its floor
// measured in one process can be compared by it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
