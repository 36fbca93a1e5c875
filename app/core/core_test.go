package core_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/tsunagu/tsunagu/app/core"
)

// The deciding layer must not know its transports: no Echo, no Asynq.
func TestCoreImportsNoTransport(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "github.com/tsunagu/tsunagu/app/core").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "labstack/echo") || strings.Contains(dep, "hibiken/asynq") {
			t.Errorf("app/core depends on %s", dep)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	nf := core.Errorf(core.ENOTFOUND, "customer %d not found", 7)
	wrapped := fmt.Errorf("loading timeline: %w", nf)
	tests := []struct {
		name     string
		err      error
		code     string
		msg      string
		sentinel error
	}{
		{"nil", nil, "", "internal error", nil},
		{"plain", errors.New("boom"), core.EINTERNAL, "internal error", nil},
		{"domain", nf, core.ENOTFOUND, "customer 7 not found", core.ErrNotFound},
		{"wrapped", wrapped, core.ENOTFOUND, "customer 7 not found", core.ErrNotFound},
		{"conflict", core.Errorf(core.ECONFLICT, "already linked"), core.ECONFLICT, "already linked", core.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := core.ErrorCode(tt.err); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
			if got := core.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("message = %q, want %q", got, tt.msg)
			}
			if tt.sentinel != nil && !errors.Is(tt.err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.sentinel)
			}
			if tt.sentinel != nil && errors.Is(tt.err, core.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = true", tt.err)
			}
		})
	}
}

func TestCheckLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		link string
		ok   bool
	}{
		{"https://shop.example/sale?x=1", true},
		{"http://shop.example", true},
		{"HTTPS://shop.example/a", true},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"//evil.example/x", false},
		{"/relative", false},
		{"https:evil.example", false},
		{"https://", false},
		{"https://user:pw@shop.example", false},
		{"https://shop.example/\nx", false},
		{" https://shop.example", false},
		{"https:\\\\evil.example", false},
		{"ftp://shop.example", false},
		{"", false},
	} {
		err := core.CheckLink(tc.link)
		if (err == nil) != tc.ok {
			t.Errorf("CheckLink(%q) = %v, want ok=%v", tc.link, err, tc.ok)
		}
		if err != nil && core.ErrorCode(err) != core.EINVALID {
			t.Errorf("CheckLink(%q) code %s", tc.link, core.ErrorCode(err))
		}
	}
}
