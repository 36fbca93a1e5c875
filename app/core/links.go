package core

import (
	"net/url"
	"strings"
)

// CheckLink accepts only an absolute http or https URL with a host: the
// destination a tracked link redirects a customer to. It refuses
// javascript:, data: and other schemes, scheme-relative "//host" links,
// relative paths, credentials in the URL and control characters, with a
// message that says which.
func CheckLink(raw string) error {
	if raw == "" {
		return Errorf(EINVALID, "the link is empty")
	}
	if len(raw) > 2048 {
		return Errorf(EINVALID, "the link is longer than 2048 characters")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' || r == '\\' }) {
		return Errorf(EINVALID, "the link %q contains spaces, backslashes or control characters", short(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Errorf(EINVALID, "the link %q is not a valid URL", short(raw))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return Errorf(EINVALID, "the link %q has no scheme: start it with https://", short(raw))
	default:
		return Errorf(EINVALID, "the link %q uses %s:, only http and https links are allowed", short(raw), strings.ToLower(u.Scheme))
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return Errorf(EINVALID, "the link %q has no host", short(raw))
	}
	if u.User != nil {
		return Errorf(EINVALID, "the link %q contains a user name or password", short(raw))
	}
	return nil
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
