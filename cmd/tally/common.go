package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tallygw/tally/anchor/checkpoint"
	"github.com/tallygw/tally/edge/config"
	"github.com/tallygw/tally/edge/keys"
)

const defaultConfig = "/etc/tally/tally.yaml"

// common are the flags every command takes.
type common struct {
	config string
	data   string
}

func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("tally "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.StringVar(&c.config, "config", defaultConfig, "configuration file")
	fs.StringVar(&c.data, "data", "", "state directory (database, keys); overrides data_dir")
	return fs, c
}

// parse parses args; -h is not an error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	return nil
}

func (c *common) load() (*config.Config, error) {
	if _, err := os.Stat(c.config); os.IsNotExist(err) {
		return nil, fmt.Errorf("config file %s does not exist; pass --config FILE (an annotated example is configs/tally.yaml)", c.config)
	}
	return config.Load(c.config, c.data)
}

// parseLoad parses a command's flags, which take no arguments, and loads
// the configuration.
func (c *common) parseLoad(fs *flag.FlagSet, args []string) (*config.Config, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if err := noArgs(fs); err != nil {
		return nil, err
	}
	return c.load()
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadKeys loads the private keys and derives the public ones.
func loadKeys(cfg *config.Config) (*keys.Set, checkpoint.Keys, error) {
	ks, err := keys.Load(cfg.Path(cfg.Keys.Ed25519), cfg.Path(cfg.Keys.MLDSA65))
	if err != nil {
		return nil, checkpoint.Keys{}, err
	}
	s, err := checkpoint.NewSigner(cfg.Origin(), ks.Ed25519, ks.MLDSA65)
	if err != nil {
		return nil, checkpoint.Keys{}, err
	}
	return ks, s.Keys(), nil
}

func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
