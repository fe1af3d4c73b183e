// Package configs holds the annotated example configurations. The demo
// configuration is embedded in the binary so `tally demo` needs no files.
package configs

import _ "embed"

// Demo is configs/demo.yaml.
//
//go:embed demo.yaml
var Demo []byte

// Example is configs/tally.yaml, the annotated reference of every key.
//
//go:embed tally.yaml
var Example []byte
