package core

import "strings"

// CSVCell neutralises text for a CSV a merchant opens in a spreadsheet: a
// cell that starts with = + - @ (or a tab or carriage return, which some
// spreadsheets skip before reading a formula) is prefixed with a single
// quote, so =HYPERLINK(...) in a campaign name shows as text instead of
// running as a formula (OWASP "CSV injection").
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
