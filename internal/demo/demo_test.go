package demo

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.APIAddr != DefaultAPIAddr || o.XDSAddr != DefaultXDSAddr {
		t.Errorf("addresses = %s, %s", o.APIAddr, o.XDSAddr)
	}
	if !strings.HasSuffix(o.ClientConfigPath, filepath.Join(".weft", "config.yaml")) {
		t.Errorf("ClientConfigPath = %s", o.ClientConfigPath)
	}
	if o.ReadyTimeout <= 0 || o.StopTimeout <= 0 || o.Out == nil {
		t.Errorf("defaults missing: %+v", o)
	}
	for _, port := range []int{-1, 65536} {
		if err := (Options{Port: port}).Validate(); err == nil {
			t.Errorf("Validate(port %d): no error", port)
		}
	}
}

// Run fails before starting anything when weftd's ports are taken, and leaves no trace.
func TestRunRefusesTakenPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()

	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "API", opts: Options{APIAddr: taken, XDSAddr: "127.0.0.1:0"},
			wantErr: "weftd's API address " + taken + " is taken: is another weftd or demo running?"},
		{name: "xDS", opts: Options{APIAddr: "127.0.0.1:0", XDSAddr: taken},
			wantErr: "weftd's xDS address " + taken + " is taken: is another weftd or demo running?"},
		{name: "gateway", opts: Options{APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0", Port: l.Addr().(*net.TCPAddr).Port},
			wantErr: "is taken: choose another with --port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			var out bytes.Buffer
			tt.opts.ClientConfigPath = filepath.Join(home, ".weft", "config.yaml")
			tt.opts.WorkDir = filepath.Join(home, "work")
			tt.opts.Out = &out
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run error = %v, want one containing %q", err, tt.wantErr)
			}
			entries, _ := os.ReadDir(home)
			if len(entries) != 0 {
				t.Errorf("Run left %v in the home directory", entries)
			}
		})
	}
}

func TestRunNeedsItsBinaries(t *testing.T) {
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeExec(t, filepath.Join(bin, "weft-proxy"))
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, Options{
		APIAddr: "127.0.0.1:0", XDSAddr: "127.0.0.1:0",
		BinDir:           bin,
		WorkDir:          filepath.Join(home, "work"),
		ClientConfigPath: filepath.Join(home, ".weft", "config.yaml"),
		Out:              &out,
	})
	if err == nil || !strings.Contains(err.Error(), "no weftd, demo-app in "+bin) {
		t.Fatalf("Run error = %v, want it to name the missing weftd and demo-app", err)
	}
	if _, err := os.Stat(filepath.Join(home, ".weft")); !os.IsNotExist(err) {
		t.Errorf("Run touched the client config directory: %v", err)
	}
}
