package cometnode_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tallygw/tally/internal/cometnode"
)

// A single validator for a demo: find or build cometbft, start it, print
// where its RPC is, and stop it.
func ExampleStartSingle() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "demo-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	net, err := cometnode.StartSingle(ctx, dir, cometnode.Options{Progress: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := net.Stop(); err != nil {
			log.Print(err)
		}
	}()
	h, err := net.Node(0).Height(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(net.ChainID(), net.Node(0).RPC(), h)
}
