package deps
import (
 _ "github.com/envoyproxy/go-control-plane/pkg/server/v3"
 _ "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
 _ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
 _ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
 _ "google.golang.org/grpc/xds"
 _ "sigs.k8s.io/gateway-api/apis/v1"
 _ "go.etcd.io/bbolt"
 _ "github.com/spf13/cobra"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "sigs.k8s.io/yaml"
 _ "golang.org/x/net/http2"
 _ "github.com/google/go-cmp/cmp"
)

