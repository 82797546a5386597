// Command weft is Weft's command line.
package main

import (
	"os"

	"github.com/weftmesh/weft/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
