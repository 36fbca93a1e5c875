package app

import (
	"crypto/sha256"
	"encoding/hex"
	"net"

	"github.com/labstack/echo/v4"
)

// clientKey names the client for per-client limits: its IPv4 address, or
// its IPv6 /64 (one subscriber usually holds a whole /64, so counting
// single IPv6 addresses would give an attacker billions of clients).
func clientKey(c echo.Context) string {
	ip := net.ParseIP(c.RealIP())
	if ip == nil {
		return "unknown"
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// hashKey shortens an arbitrary string for use in a Redis key (and keeps
// addresses and emails out of Redis in clear).
func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}
