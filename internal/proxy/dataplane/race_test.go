//go:build race

package dataplane

// raceEnabled: the race detector changes what allocates; allocation tests skip under it.
const raceEnabled = true
