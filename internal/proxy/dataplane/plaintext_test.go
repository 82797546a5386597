package dataplane

import (
	"net"
	"testing"
	"time"
)

func TestPlaintextTableIsBoundedAndOrdered(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tab := newPlaintextTable(func() time.Time { return now }, 2)
	addr := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

	tab.note("inbound", addr("10.0.0.1"), 8080)
	now = now.Add(time.Second)
	tab.note("inbound", addr("10.0.0.2"), 8080)
	now = now.Add(time.Second)
	tab.note("inbound", addr("10.0.0.1"), 8080) // 10.0.0.1 is now the most recent
	now = now.Add(time.Second)
	tab.note("inbound|7000", addr("10.0.0.3"), 7000) // full: forgets 10.0.0.2, the least recent

	rep := tab.report()
	if !rep.Now.Equal(now) {
		t.Errorf("report time = %s, want %s", rep.Now, now)
	}
	if len(rep.Sources) != 2 {
		t.Fatalf("sources = %+v, want 2 (the table holds 2)", rep.Sources)
	}
	first, second := rep.Sources[0], rep.Sources[1]
	if first.Address != "10.0.0.3" || first.Port != 7000 || first.Listener != "inbound|7000" || first.Count != 1 {
		t.Errorf("most recent source = %+v, want 10.0.0.3 on port 7000", first)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if second.Address != "10.0.0.1" || second.Count != 2 || !second.FirstSeen.Equal(start) || !second.LastSeen.Equal(start.Add(2*time.Second)) {
		t.Errorf("second source = %+v, want 10.0.0.1, 2 connections, first seen at the start, last 2s later", second)
	}

	if !tab.firstRefusal("inbound") || tab.firstRefusal("inbound") || !tab.firstRefusal("other") {
		t.Error("firstRefusal must be true exactly once per listener")
	}
}
