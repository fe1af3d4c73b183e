package main

import (
	"context"
	"io"
	"time"

	"github.com/tallygw/tally/edge"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("run", stderr)
	forDur := fs.Duration("for", 0, "stop after this long (demos and smoke tests); 0 runs until SIGINT/SIGTERM")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	cfg, err := c.load()
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

var _ = time.Second
