// Package line holds everything Tsunagu knows about LINE: the Messaging API
// (push, multicast, bot info, profiles) through line-bot-sdk-go v8, LINE Login
// (OAuth 2.1 + OpenID Connect), webhook signature checks and event parsing,
// and per-channel rate limiting.
//
// Nothing here logs or returns channel tokens or secrets.
package line
