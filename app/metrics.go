package app

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tsunagu/tsunagu/app/store"

	"github.com/tsunagu/tsunagu/shopify"
)

// Metrics is the app's Prometheus registry and instruments. Each App has
// its own, so tests and embedded apps never share counters.
type Metrics struct {
	Registry    *prometheus.Registry
	Webhooks    *prometheus.CounterVec
	JobDuration *prometheus.HistogramVec
	LineCalls   *prometheus.CounterVec
	LineErrors  *prometheus.CounterVec
}

func newMetrics(a *App) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsunagu_webhooks_received_total", Help: "Webhook deliveries received, by source, topic and HTTP status answered.",
		}, []string{"source", "topic", "status"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tsunagu_job_duration_seconds", Help: "Time to process an Asynq task, by task type and result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type", "result"}),
		LineCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsunagu_line_api_requests_total", Help: "Requests to the LINE APIs, by endpoint.",
		}, []string{"endpoint"}),
		LineErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tsunagu_line_api_errors_total", Help: "LINE API calls that failed, by endpoint and status (0: no response).",
		}, []string{"endpoint", "status"}),
	}
	m.Registry.MustRegister(m.Webhooks, m.JobDuration, m.LineCalls, m.LineErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&messageCollector{a: a, desc: prometheus.NewDesc("tsunagu_messages", "Messages by kind and status (read from the database, cached 30 s).",
			[]string{"kind", "status"}, nil)})
	return m
}

// messageCollector reads message counts from the database on scrape; the
// database is the truth across any number of web and worker processes.
type messageCollector struct {
	a    *App
	desc *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	samples []store.MessageCount
}

func (c *messageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *messageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > 30*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rows, err := c.a.DB.MessageTotals(ctx); err != nil {
			c.a.Log.Warn("metrics: counting messages", "err", err)
		} else {
			c.samples, c.at = rows, time.Now()
		}
	}
	for _, s := range c.samples {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(s.N), s.Kind, s.Status)
	}
}

// metricsHandler serves /metrics. It carries no shop data; with
// TSUNAGU_OPS_TOKEN set it needs the token too (Prometheus: basic_auth
// password or authorization credentials).
func (a *App) metricsHandler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(a.Metrics.Registry, promhttp.HandlerOpts{}))
}

// newJobsMonitor is the operators' job dashboard (asynqmon) at /admin/jobs,
// or nil without TSUNAGU_OPS_TOKEN: it shows every shop's tasks, so it is
// for Tsunagu's operators (the token as the Basic auth password), never for
// merchants.
func (a *App) newJobsMonitor() echo.HandlerFunc {
	if a.Config.OpsToken == "" {
		return nil
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: "/admin/jobs", RedisConnOpt: a.Redis})
	a.closers = append(a.closers, func() { mon.Close() })
	return echo.WrapHandler(mon)
}

// opsAuth admits requests with Basic auth password TSUNAGU_OPS_TOKEN.
func (a *App) opsAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, pw, ok := c.Request().BasicAuth()
		if bearer, isBearer := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer "); isBearer {
			pw, ok = bearer, true
		}
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(a.Config.OpsToken)) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="Tsunagu operators"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "operators only")
		}
		return next(c)
	}
}

func (a *App) countWebhooks(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Request().URL.Path
		if !strings.HasPrefix(p, "/webhooks/") {
			return next(c)
		}
		err := next(c)
		status := c.Response().Status
		if he, ok := err.(*echo.HTTPError); ok {
			status = he.Code
		} else if err != nil {
			status = http.StatusInternalServerError
		}
		source, topic := "shopify", webhookTopicLabel(c.Request().Header.Get("X-Shopify-Topic"))
		if strings.HasPrefix(p, "/webhooks/line") {
			source, topic = "line", "line"
		}
		if status == http.StatusUnauthorized {
			topic = "unsigned" // the header of an unsigned request is anyone's words
		}
		a.Metrics.Webhooks.WithLabelValues(source, topic, statusLabel(status)).Inc()
		return err
	}
}

// webhookTopicLabel is the topic as a metric label: only topics Tsunagu
// subscribes to are their own label; anything else a sender puts in the
// header is "other", so nobody can add series (or megabytes) to /metrics.
func webhookTopicLabel(topic string) string {
	if slices.Contains(shopify.Topics, topic) || slices.Contains(shopify.ComplianceTopics, topic) ||
		topic == shopify.TopicCartsCreate || topic == shopify.TopicCartsUpdate {
		return topic
	}
	if topic == "" {
		return "unknown"
	}
	return "other"
}

// statusLabel keeps the status label to the codes HTTP defines.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// instrumentLINE wraps the shared HTTP client's transport to count calls
// to, and errors from, the LINE API origins.
func (a *App) instrumentLINE() {
	hosts := map[string]bool{}
	for _, b := range []string{a.Config.LineAPIBase, a.Config.LineDataAPIBase} {
		if u, err := url.Parse(b); err == nil && u.Host != "" {
			hosts[u.Host] = true
		}
	}
	base := a.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	a.HTTPClient.Transport = &lineMetricsTransport{base: base, hosts: hosts, m: a.Metrics}
}

type lineMetricsTransport struct {
	base  http.RoundTripper
	hosts map[string]bool
	m     *Metrics
}

func (t *lineMetricsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.hosts[req.URL.Host] {
		return t.base.RoundTrip(req)
	}
	ep := lineEndpoint(req.URL.Path)
	t.m.LineCalls.WithLabelValues(ep).Inc()
	res, err := t.base.RoundTrip(req)
	if err != nil {
		t.m.LineErrors.WithLabelValues(ep, "0").Inc()
	} else if res.StatusCode >= 400 {
		t.m.LineErrors.WithLabelValues(ep, strconv.Itoa(res.StatusCode)).Inc()
	}
	return res, err
}

// lineEndpoint keeps label cardinality low: /v2/bot/message/push stays,
// ids in paths (/v2/bot/profile/U123) are cut.
func lineEndpoint(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if len(parts) > 4 {
		parts = parts[:4]
	}
	for i, s := range parts {
		if len(s) > 20 || (len(s) > 0 && (s[0] == 'U' || s[0] == 'C' || s[0] == 'R') && len(s) > 10) {
			parts[i] = ":id"
		}
	}
	return "/" + strings.Join(parts, "/")
}

// jobMetrics is Asynq middleware timing every task.
func (a *App) jobMetrics(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		result := "ok"
		if err != nil {
			result = "error"
		}
		a.Metrics.JobDuration.WithLabelValues(t.Type(), result).Observe(time.Since(start).Seconds())
		return err
	})
}
