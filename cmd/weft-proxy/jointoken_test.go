package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testJoinToken = "weft-jt.0123456789abcdef.c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"

func TestJoinTokenFlags(t *testing.T) {
	o, err := parseFlags([]string{"--service", "web", "--join-token-file", "/etc/weft/web.token"}, io.Discard, env(nil))
	if err != nil || o.joinTokenFile != "/etc/weft/web.token" || o.joinToken != "" {
		t.Errorf("--join-token-file: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"--service", "web"}, io.Discard, env(map[string]string{"WEFT_JOIN_TOKEN": testJoinToken}))
	if err != nil || o.joinToken != testJoinToken || o.joinTokenFile != "" {
		t.Errorf("$WEFT_JOIN_TOKEN: %+v, %v", o, err)
	}
	_, err = parseFlags([]string{"--service", "web", "--join-token-file", "f"}, io.Discard, env(map[string]string{"WEFT_JOIN_TOKEN": testJoinToken}))
	if err == nil || err.Error() != "--join-token-file and $WEFT_JOIN_TOKEN are both set: give the join token one way" {
		t.Errorf("both: %v", err)
	}
}

func TestReadJoinToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.token", testJoinToken+"\n", 0o600)
	open := write("open.token", testJoinToken, 0o644)
	empty := write("empty.token", "\n", 0o600)
	admin := write("admin.token", "0123456789abcdef0123456789abcdef\n", 0o600)
	tests := []struct {
		name    string
		o       options
		want    string
		wantErr string
		wantLog string
	}{
		{name: "none", o: options{}, want: ""},
		{name: "file", o: options{joinTokenFile: good}, want: testJoinToken},
		{name: "environment", o: options{joinToken: " " + testJoinToken + "\n"}, want: testJoinToken},
		{name: "file open to others", o: options{joinTokenFile: open}, want: testJoinToken, wantLog: "readable by other users; chmod 600 it"},
		{name: "empty file", o: options{joinTokenFile: empty}, wantErr: "join token file " + empty + " is empty"},
		{name: "missing file", o: options{joinTokenFile: filepath.Join(dir, "missing")}, wantErr: "no such file or directory"},
		{name: "not a join token", o: options{joinTokenFile: admin},
			wantErr: "join token file " + admin + " does not hold a join token: want weft-jt.<id>.<secret>, as 'weft token create' prints it"},
		{name: "environment not a join token", o: options{joinToken: "weft-jt.abc"},
			wantErr: "$WEFT_JOIN_TOKEN does not hold a join token"},
		{name: "two lines", o: options{joinToken: testJoinToken + "\n" + testJoinToken}, wantErr: "does not hold a join token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			got, err := readJoinToken(&tt.o, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "0123456789abcdef0123") || strings.Contains(err.Error(), "c2VjcmV0") {
					t.Errorf("the error %q holds the token", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readJoinToken = %q, %v; want %q", got, err, tt.want)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
			if strings.Contains(logs.String(), "c2VjcmV0") {
				t.Errorf("the log holds the token: %s", logs.String())
			}
		})
	}
}

// TestBootstrapWithoutToken: the bootstrap weftd writes holds no token; a join token is the
// credential. A bootstrap with a token of its own works without one; a join token wins over it.
func TestBootstrapWithoutToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy-bootstrap.json")
	if err := os.WriteFile(path, []byte(`{"server": "https://127.0.0.1:15080", "xds": "127.0.0.1:15010", "ca": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadClientConfig(path, ""); err == nil || !strings.Contains(err.Error(), "no credential for weftd: give a join token") {
		t.Errorf("without a join token: %v, want the missing credential reported", err)
	}
	cc, err := loadClientConfig(path, testJoinToken)
	if err != nil || cc.Token != testJoinToken {
		t.Errorf("with a join token: %+v, %v", cc, err)
	}
	withToken := filepath.Join(dir, "dev.json")
	if err := os.WriteFile(withToken, []byte(`{"server": "https://127.0.0.1:15080", "xds": "127.0.0.1:15010", "ca": "x", "token": "dev"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if cc, err := loadClientConfig(withToken, ""); err != nil || cc.Token != "dev" {
		t.Errorf("a bootstrap with a token: %+v, %v", cc, err)
	}
	if cc, err := loadClientConfig(withToken, testJoinToken); err != nil || cc.Token != testJoinToken {
		t.Errorf("a join token over the bootstrap's: %+v, %v", cc, err)
	}
	// weft's YAML client config is not a bootstrap, and the error says what is.
	yamlPath := filepath.Join(dir, "client.yaml")
	if err := os.WriteFile(yamlPath, []byte("server: https://127.0.0.1:15080\nxds: 127.0.0.1:15010\nca: x\ntoken: t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadClientConfig(yamlPath, ""); err == nil || !strings.Contains(err.Error(), "proxy-bootstrap.json") {
		t.Errorf("a YAML client config: %v, want an error naming proxy-bootstrap.json", err)
	}
	if id, ok := joinTokenID(testJoinToken); !ok || id != "0123456789abcdef" {
		t.Errorf("joinTokenID = %q, %v", id, ok)
	}
}

func TestRunWithABadJoinTokenFile(t *testing.T) {
	var stderr bytes.Buffer
	missing := filepath.Join(t.TempDir(), "web.token")
	if code := run([]string{"--service", "web", "--join-token-file", missing}, io.Discard, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "cannot read the join token") || !strings.Contains(stderr.String(), missing) {
		t.Errorf("run with a missing join token file = %d, stderr %q; want 1 naming the file", code, stderr.String())
	}
}

func TestOpenToOthers(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		mode os.FileMode
		want bool
	}{{0o600, false}, {0o640, true}, {0o644, true}, {0o400, false}} {
		path := filepath.Join(dir, tt.mode.String())
		if err := os.WriteFile(path, []byte("{}"), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil { // past the umask
			t.Fatal(err)
		}
		if perm, got := openToOthers(path); got != tt.want || perm != tt.mode {
			t.Errorf("openToOthers(%v) = %v, %v; want %v", tt.mode, perm, got, tt.want)
		}
	}
	if _, got := openToOthers(filepath.Join(dir, "missing")); got {
		t.Error("a missing file is reported open to others")
	}
}
