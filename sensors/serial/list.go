package serial

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	bugserial "go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// Directories of the stable links udev makes for serial ports.
const (
	ByIDDir   = "/dev/serial/by-id"
	ByPathDir = "/dev/serial/by-path"
)

// PortInfo describes one serial port, for `tally ports`.
type PortInfo struct {
	Path         string   `json:"path"`                    // /dev/ttyUSB0
	USB          bool     `json:"usb"`                     // a USB adapter or USB CDC device
	VID          string   `json:"vid,omitempty"`           // USB vendor id, 4 hex digits ("0403")
	PID          string   `json:"pid,omitempty"`           // USB product id ("6001")
	SerialNumber string   `json:"serial_number,omitempty"` // the adapter's USB serial number, when it has one
	Manufacturer string   `json:"manufacturer,omitempty"`
	Product      string   `json:"product,omitempty"`
	ByID         []string `json:"by_id,omitempty"`   // /dev/serial/by-id/ links to Path: use one as Config.Port
	ByPath       []string `json:"by_path,omitempty"` // /dev/serial/by-path/ links (the USB socket: for adapters without a serial number)
}

// List returns the serial ports of this machine (ttyS, ttyUSB, ttyACM,
// ttyAMA, ...) with their USB ids and the stable links pointing at each,
// sorted by path. It opens no port except built-in ttyS ports, which
// go.bug.st/serial probes to skip placeholders that have no UART.
func List() ([]PortInfo, error) {
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	// The enumerator leaves Name empty for a port without a sysfs device
	// link; its entries follow GetPortsList, so the name can be recovered
	// when nothing changed in between.
	var names []string
	if slices.ContainsFunc(details, func(d *enumerator.PortDetails) bool { return d.Name == "" }) {
		names, err = bugserial.GetPortsList()
		if err != nil || len(names) != len(details) {
			names = nil
		}
	}
	byID, err := links(ByIDDir)
	if err != nil {
		return nil, err
	}
	byPath, err := links(ByPathDir)
	if err != nil {
		return nil, err
	}
	var out []PortInfo
	for i, d := range details {
		name := d.Name
		if name == "" && names != nil {
			name = names[i]
		}
		if name == "" {
			continue
		}
		p := PortInfo{
			Path:         name,
			USB:          d.IsUSB,
			VID:          d.VID,
			PID:          d.PID,
			SerialNumber: d.SerialNumber,
			Manufacturer: d.Manufacturer,
			Product:      d.Product,
		}
		if real, err := filepath.EvalSymlinks(name); err == nil {
			p.ByID, p.ByPath = byID[real], byPath[real]
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PortInfo) int { return naturalCompare(a.Path, b.Path) })
	return out, nil
}

// links maps each device a symlink in dir resolves to onto the links, in
// name order. A missing dir (no USB serial adapter plugged in) is empty.
func links(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	m := make(map[string][]string)
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		target, err := filepath.EvalSymlinks(link)
		if err != nil {
			continue // dangling: the device went away while we looked
		}
		m[target] = append(m[target], link)
	}
	return m, nil
}

// naturalCompare orders paths with their trailing numbers compared as
// numbers: ttyUSB2 before ttyUSB10.
func naturalCompare(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa != pb {
		if pa < pb {
			return -1
		}
		return 1
	}
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return 0
}

// splitNumber splits s into a prefix and the value of its trailing
// digits (-1 when there are none).
func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' && len(s)-i < 9 {
		i--
	}
	if i == len(s) {
		return s, -1
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	return s[:i], n
}
