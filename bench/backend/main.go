// Command backend is the application behind every setup of the mesh benchmark
// (bench/mesh.sh): a net/http server that answers any request with the same 12-byte body, so
// that what is measured is the path in front of it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// body is what every request gets: 12 bytes.
var body = []byte("hello world\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, listen string) error {
	srv := &http.Server{
		Addr:              listen,
		Handler:           http.HandlerFunc(serve),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", listen, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

var contentLength = []string{strconv.Itoa(len(body))}
var contentType = []string{"text/plain; charset=utf-8"}

// serve answers with body. The header values are shared slices: no allocation per request.
func serve(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h["Content-Length"] = contentLength
	h["Content-Type"] = contentType
	_, _ = w.Write(body)
}
