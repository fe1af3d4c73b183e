package main

import (
	"context"
	"io"

	"github.com/tallygw/tally/edge"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("run", stderr)
	forDur := fs.Duration("for", 0, "stop after this long (demos and smoke tests); 0 runs until SIGINT/SIGTERM")
	cfg, err := c.parseLoad(fs, args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	sys, err := edge.New(cfg, logger)
	if err != nil {
		return err
	}
	if *forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forDur)
		defer cancel()
	}
	return sys.Run(ctx)
}
