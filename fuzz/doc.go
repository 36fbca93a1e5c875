// Package fuzz holds no code: its test (TestFuzzTargets) runs the
// repository's cheap fuzz targets for a bounded time when CI=true, inside
// README's test command. docs/SECURITY.md lists the targets and says how to
// fuzz longer.
package fuzz
