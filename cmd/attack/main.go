// Command attack re-runs the attacks of issue 15 against a Tsunagu binary
// and prints, per attack, the HTTP answers, the wall time per request and
// the server's memory: its resident set before the attack and its peak
// (VmHWM) after, read from /proc. Each attack gets a fresh server (its own
// PostgreSQL database and Redis database), so peaks do not carry over.
//
//	go build -o /tmp/tsunagu-new ./cmd/tsunagu
//	go run ./cmd/attack -bin /tmp/tsunagu-new -label new
//
// It is a measuring tool for docs/SECURITY.md, not part of the service.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tsunagu/tsunagu/app/core"
	"github.com/tsunagu/tsunagu/app/secretbox"
)

const (
	shopifySecret = "attack-shopify-secret"
	secretKey     = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // fixed test key
	redisAddr     = "127.0.0.1:6379"
	pgURL         = "postgres://postgres@127.0.0.1:5432/"
)

type server struct {
	cmd     *exec.Cmd
	base    string
	env     []string
	tmp     string
	db      string
	redisDB int
	client  *http.Client
}

var (
	bin   = flag.String("bin", "", "tsunagu binary to attack")
	label = flag.String("label", "", "label for the output (old, new)")
	only  = flag.String("only", "", "comma-separated attacks to run (default all)")
	port  = flag.Int("port", 18480, "port for the server")
)

func main() {
	flag.Parse()
	if *bin == "" {
		log.Fatal("-bin is required")
	}
	attacks := []struct {
		name string
		run  func(*server) string
	}{
		{"H1 range 10,000,000 (preview)", h1Loop},
		{"H1 range 400,000 × 1 KiB (preview)", h1Output},
		{"H2 3,000 unsigned webhooks, random topics", h2Labels},
		{"H2 200 webhooks with 500 KB topics", h2BigTopics},
		{"M1 segment preview: OR of 1,000 clicked leaves", m1Segment},
		{"M2 200 concurrent sign-ins, one client", func(s *server) string { return m2Signin(s, false) }},
		{"M2 200 concurrent sign-ins, 200 clients", func(s *server) string { return m2Signin(s, true) }},
		{"M3 1 byte every 5 s", m3Slow},
		{"M3 148 MB multipart to /admin/login", m3Multipart},
		{"M3 60 MB JSON to /api/segments/preview", m3BigJSON},
		{"M4 CSRF: Origin null, text/plain", m4CSRF},
		{"M5 1,000 anonymous clicks", m5Clicks},
	}
	fmt.Printf("| attack (%s) | answers | time per request | RSS before → peak | notes |\n|---|---|---|---|---|\n", *label)
	for _, at := range attacks {
		if *only != "" && !strings.Contains(","+*only+",", ","+strings.Fields(at.name)[0]+",") {
			continue
		}
		s := start()
		before := rssKB(s.cmd.Process.Pid, "VmRSS")
		line := at.run(s)
		peak := rssKB(s.cmd.Process.Pid, "VmHWM")
		fmt.Printf("| %s | %s | %.1f → %.1f MB |\n", at.name, line, float64(before)/1024, float64(peak)/1024)
		s.stop()
	}
}

// start runs a fresh server: demo data, then `serve`.
func start() *server {
	s := &server{base: fmt.Sprintf("http://127.0.0.1:%d", *port)}
	s.tmp, _ = os.MkdirTemp("", "attack-")
	s.db = fmt.Sprintf("sec_attack_%d", time.Now().UnixNano()%1e9)
	must(exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "CREATE DATABASE "+s.db).Run())
	s.redisDB = reserveRedis()
	s.env = append(os.Environ(),
		"TSUNAGU_ENV=development", "TSUNAGU_ADDR=127.0.0.1:"+strconv.Itoa(*port), "TSUNAGU_BASE_URL="+s.base,
		"TSUNAGU_DATABASE_URL="+pgURL+s.db+"?sslmode=disable", fmt.Sprintf("TSUNAGU_REDIS_URL=redis://%s/%d", redisAddr, s.redisDB),
		"TSUNAGU_SECRET_KEY="+secretKey, "TSUNAGU_DATA_DIR="+s.tmp, "SHOPIFY_API_KEY=attack-key", "SHOPIFY_API_SECRET="+shopifySecret,
		"TSUNAGU_LOG_LEVEL=error", "TMPDIR="+filepath.Join(s.tmp, "tmp"), "TSUNAGU_LINE_API_BASE=http://127.0.0.1:1",
		"TSUNAGU_SHOPIFY_ADMIN_BASE=http://127.0.0.1:1")
	must(os.MkdirAll(filepath.Join(s.tmp, "tmp"), 0o755))
	demo := exec.Command(*bin, "demo")
	demo.Env = s.env
	out, err := demo.CombinedOutput()
	if err != nil {
		log.Fatalf("demo: %v\n%s", err, out)
	}
	link := regexp.MustCompile(`http\S+/admin/session\?token=\S+`).FindString(string(out))
	s.cmd = exec.Command(*bin, "serve", "--no-workers")
	s.cmd.Env = s.env
	s.cmd.Stderr = io.Discard
	must(s.cmd.Start())
	jar, _ := cookiejar.New(nil)
	s.client = &http.Client{Jar: jar, Timeout: 10 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; ; i++ {
		if r, err := http.Get(s.base + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if i > 200 {
			log.Fatal("server did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err := s.client.Get(link)
	must(err)
	r.Body.Close()
	return s
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_, _ = s.cmd.Process.Wait()
	_ = exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "DROP DATABASE IF EXISTS "+s.db+" WITH (FORCE)").Run()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DB: s.redisDB})
	rdb.FlushDB(context.Background())
	rdb.Close()
	ctl := redis.NewClient(&redis.Options{Addr: redisAddr})
	ctl.Del(context.Background(), "tsunagu:test:db:"+strconv.Itoa(s.redisDB))
	ctl.Close()
	os.RemoveAll(s.tmp)
}

// reserveRedis takes a Redis database number the way app/testenv does.
func reserveRedis() int {
	ctl := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer ctl.Close()
	count := 16
	if v, err := ctl.ConfigGet(context.Background(), "databases").Result(); err == nil {
		if n, err := strconv.Atoi(v["databases"]); err == nil {
			count = n
		}
	}
	for n := count - 1; n > 0; n-- {
		if ok, _ := ctl.SetNX(context.Background(), "tsunagu:test:db:"+strconv.Itoa(n), "attack", 30*time.Minute).Result(); ok {
			rdb := redis.NewClient(&redis.Options{Addr: redisAddr, DB: n})
			rdb.FlushDB(context.Background())
			rdb.Close()
			return n
		}
	}
	log.Fatal("no free Redis database")
	return 0
}

// api sends an admin API request with the session cookie, as the admin's
// own browser would (same origin, JSON).
func (s *server) api(method, path, ctype string, body io.Reader, hdr map[string]string) (int, string, time.Duration) {
	req, _ := http.NewRequest(method, s.base+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Origin", s.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	t0 := time.Now()
	r, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error(), time.Since(t0)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return r.StatusCode, string(b), time.Since(t0)
}

func jsonBody(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }

func short(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "|", "/")
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}

func h1(s *server, src string) string {
	code, body, d := s.api("POST", "/api/templates/thank_you/preview", "application/json", jsonBody(map[string]string{"source": src}), nil)
	return fmt.Sprintf("%d | %s | %s", code, d.Round(time.Millisecond), short(body))
}

func h1Loop(s *server) string { return h1(s, "{{range 10000000}}{{end}}") }
func h1Output(s *server) string {
	return h1(s, "{{range 400000}}"+strings.Repeat("x", 1024)+"{{end}}")
}

func webhook(s *server, topic string, body []byte, sign bool) int {
	req, _ := http.NewRequest("POST", s.base+"/webhooks/shopify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", "demo.myshopify.com")
	req.Header.Set("X-Shopify-Webhook-Id", strconv.FormatInt(rand.Int64(), 36))
	if sign {
		m := hmac.New(sha256.New, []byte(shopifySecret))
		m.Write(body)
		req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

func metricsSeries(s *server) int {
	r, err := http.Get(s.base + "/metrics")
	if err != nil {
		return -1
	}
	defer r.Body.Close()
	n := 0
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

func parallel(n, workers int, f func(i int) int) (map[int]int, time.Duration) {
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	t0 := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := f(i)
				mu.Lock()
				codes[c]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return codes, time.Since(t0)
}

func h2Labels(s *server) string {
	before := metricsSeries(s)
	codes, d := parallel(3000, 16, func(i int) int { return webhook(s, "topic/"+strconv.Itoa(i), []byte(`{}`), false) })
	return fmt.Sprintf("%v | %s | series %d → %d", codes, (d / 3000).Round(time.Microsecond), before, metricsSeries(s))
}

func h2BigTopics(s *server) string {
	before := metricsSeries(s)
	codes, d := parallel(200, 8, func(i int) int {
		return webhook(s, strconv.Itoa(i)+strings.Repeat("t", 500_000), []byte(`{}`), false)
	})
	return fmt.Sprintf("%v | %s | series %d → %d", codes, (d / 200).Round(time.Millisecond), before, metricsSeries(s))
}

func m1Segment(s *server) string {
	leaves := make([]map[string]any, 1000)
	for i := range leaves {
		leaves[i] = map[string]any{"field": "clicked", "op": "in", "value": []string{"kind_" + strconv.Itoa(i)}}
	}
	code, body, d := s.api("POST", "/api/segments/preview", "application/json", jsonBody(map[string]any{"definition": map[string]any{"or": leaves}}), nil)
	return fmt.Sprintf("%d | %s | %s", code, d.Round(time.Millisecond), short(body))
}

// m2Signin: with many, each attempt names its own client address in
// X-Forwarded-For, which the server honours from a loopback peer (a proxy
// on the same host), so one machine can stand for 200 clients.
func m2Signin(s *server, many bool) string {
	code, body, _ := s.api("POST", "/api/staff", "application/json", jsonBody(map[string]string{"email": "v@support.example", "password": "viewer-password-1", "role": "viewer"}), nil)
	if code != 201 {
		return fmt.Sprintf("creating staff: %d %s", code, short(body))
	}
	form := url.Values{"shop": {"demo.myshopify.com"}, "email": {"v@support.example"}, "password": {"wrong-password"}}.Encode()
	codes, d := parallel(200, 200, func(i int) int {
		req, _ := http.NewRequest("POST", s.base+"/admin/login", strings.NewReader(form))
		if many {
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return r.StatusCode
	})
	return fmt.Sprintf("%v | %s (all 200 in %s) | one account", codes, (d / 200).Round(time.Millisecond), d.Round(time.Millisecond))
}

func m3Slow(s *server) string {
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	must(err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	t0 := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		b := make([]byte, 4096)
		for {
			if _, err := conn.Read(b); err != nil {
				closed <- time.Since(t0)
				return
			}
		}
	}()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			return fmt.Sprintf("closed | after %s |", d.Round(time.Second))
		case <-tick.C:
			if time.Since(t0) > 50*time.Second {
				return "still open | after 50 s (gave up) |"
			}
			if _, err := conn.Write([]byte("a")); err != nil {
				return fmt.Sprintf("closed | write failed after %s |", time.Since(t0).Round(time.Second))
			}
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func m3Multipart(s *server) string {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("upload", "big.bin")
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		for i := 0; i < 148; i++ {
			if _, err := fw.Write(chunk); err != nil {
				break
			}
		}
		mw.Close()
		pw.Close()
	}()
	var maxTmp int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				if n := dirSize(filepath.Join(s.tmp, "tmp")); n > maxTmp {
					maxTmp = n
				}
			}
		}
	}()
	req, _ := http.NewRequest("POST", s.base+"/admin/login", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", s.base)
	t0 := time.Now()
	r, err := http.DefaultClient.Do(req)
	d := time.Since(t0)
	close(done)
	code := 0
	if err == nil {
		code = r.StatusCode
		r.Body.Close()
	}
	return fmt.Sprintf("%d | %s | temp files up to %d MB", code, d.Round(time.Millisecond), maxTmp>>20)
}

func m3BigJSON(s *server) string {
	leaf := `{"field":"tag","op":"in","value":["` + strings.Repeat("x", 1000) + `"]},`
	var b strings.Builder
	b.WriteString(`{"definition":{"or":[`)
	for b.Len() < 60<<20 {
		b.WriteString(leaf)
	}
	b.WriteString(`{"field":"linked","op":"eq","value":true}]}}`)
	code, body, d := s.api("POST", "/api/segments/preview", "application/json", strings.NewReader(b.String()), nil)
	return fmt.Sprintf("%d | %s | %s", code, d.Round(time.Millisecond), short(body))
}

func m4CSRF(s *server) string {
	body := `{"name":"csrf","definition":{"and":[]},"messages":[{"type":"text","text":"hi"}]}`
	c1, _, _ := s.api("POST", "/api/campaigns", "text/plain", strings.NewReader(body), map[string]string{"Origin": "null", "Sec-Fetch-Site": ""})
	c2, _, d := s.api("POST", "/api/campaigns", "text/plain", strings.NewReader(body), map[string]string{"Origin": "", "Sec-Fetch-Site": ""})
	return fmt.Sprintf("Origin null: %d; no Origin, no Sec-Fetch-Site: %d | %s | 2xx = campaign created cross-site", c1, c2, d.Round(time.Millisecond))
}

func m5Clicks(s *server) string {
	code, body, _ := s.api("POST", "/api/campaigns", "application/json", jsonBody(map[string]any{
		"name": "clicks", "definition": map[string]any{"and": []any{}}, "link": "https://demo.example/sale",
		"messages": []map[string]string{{"type": "text", "text": "{{link}}"}},
	}), nil)
	if code != 201 {
		return fmt.Sprintf("create: %d %s", code, short(body))
	}
	var camp struct{ ID int64 }
	_ = json.Unmarshal([]byte(body), &camp)
	// As if it had been sent (the link only answers for sent campaigns).
	must(exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", s.db, "-qc",
		fmt.Sprintf("UPDATE campaigns SET status='done', started_at=now() WHERE id=%d", camp.ID)).Run())
	links := []string{fmt.Sprintf("/cc/%d/A", camp.ID)}
	if tok := campaignToken(camp.ID); tok != "" {
		links = append(links, "/cc/"+tok)
	}
	var parts []string
	for _, l := range links {
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		codes, d := parallel(1000, 16, func(int) int {
			r, err := noFollow.Get(s.base + l)
			if err != nil {
				return 0
			}
			r.Body.Close()
			return r.StatusCode
		})
		_, rep, _ := s.api("GET", fmt.Sprintf("/api/campaigns/%d/report", camp.ID), "", nil, nil)
		var report struct{ Total struct{ Clicks int64 } }
		_ = json.Unmarshal([]byte(rep), &report)
		kind := "sequential /cc/{id}/A"
		if len(parts) > 0 {
			kind = "signed /cc/{token}"
		}
		parts = append(parts, fmt.Sprintf("%s: %v, %s/req, clicks recorded so far %d", kind, codes, (d/1000).Round(time.Microsecond), report.Total.Clicks))
	}
	return strings.Join(parts, "; ") + " | | one client, no cookies"
}

func rssKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// campaignToken signs a campaign click id the way the new code does
// (core.CampaignLinkURL); empty when -token is off (old code has none).
func campaignToken(id int64) string {
	if !*withToken {
		return ""
	}
	key, _ := base64.StdEncoding.DecodeString(secretKey)
	return core.CampaignClickToken(secretbox.NewSigner(key), id, "A")
}

var withToken = flag.Bool("token", false, "also attack the signed campaign link (new code)")
