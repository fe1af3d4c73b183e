package serial

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestLinks(t *testing.T) {
	dir := t.TempDir()
	dev := filepath.Join(dir, "dev")
	byID := filepath.Join(dir, "by-id")
	for _, d := range []string{dev, byID} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"ttyUSB0", "ttyUSB1"} {
		if err := os.WriteFile(filepath.Join(dev, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{
		"usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0":  "../dev/ttyUSB0",
		"usb-Prolific_USB-Serial_Controller-if00-port0": "../dev/ttyUSB1",
		"usb-FTDI_dual-if01-port0":                      filepath.Join(dev, "ttyUSB1"),
		"usb-gone-if00-port0":                           "../dev/ttyUSB7",
	} {
		if err := os.Symlink(target, filepath.Join(byID, name)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := links(byID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		filepath.Join(dev, "ttyUSB0"): {filepath.Join(byID, "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")},
		filepath.Join(dev, "ttyUSB1"): {filepath.Join(byID, "usb-FTDI_dual-if01-port0"), filepath.Join(byID, "usb-Prolific_USB-Serial_Controller-if00-port0")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("links:\n got %v\nwant %v", got, want)
	}
	if m, err := links(filepath.Join(dir, "missing")); err != nil || len(m) != 0 {
		t.Errorf("missing dir: %v, %v", m, err)
	}
}

// List runs on whatever this machine has (often no serial port at all).
func TestList(t *testing.T) {
	ports, err := List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, p := range ports {
		if p.Path == "" {
			t.Errorf("port without a path: %+v", p)
		}
		t.Logf("%+v", p)
	}
	if !slices.IsSortedFunc(ports, func(a, b PortInfo) int { return naturalCompare(a.Path, b.Path) }) {
		t.Errorf("not sorted: %v", ports)
	}
}

func TestNaturalCompare(t *testing.T) {
	paths := []string{"/dev/ttyUSB10", "/dev/ttyACM0", "/dev/ttyUSB2", "/dev/ttyS0", "/dev/ttyUSB", "/dev/ttyS10", "/dev/ttyS1"}
	slices.SortFunc(paths, naturalCompare)
	want := []string{"/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyS1", "/dev/ttyS10", "/dev/ttyUSB", "/dev/ttyUSB2", "/dev/ttyUSB10"}
	if !slices.Equal(paths, want) {
		t.Errorf("sorted %v", paths)
	}
}
