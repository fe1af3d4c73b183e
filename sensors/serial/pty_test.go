package serial

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/testpty"
)

// testPTY is a pseudo-terminal standing in for a serial device.
type testPTY struct{ *testpty.PTY }

func newPTY(t *testing.T) *testPTY { return &testPTY{testpty.New(t)} }

// newPTYNot returns a new pty whose slave is not at path, as an adapter
// that comes back as ttyUSB1 after being ttyUSB0. The ptys it skips stay
// open until the end of the test.
func newPTYNot(t *testing.T, path string) *testPTY {
	t.Helper()
	for range 8 {
		if p := newPTY(t); p.Path != path {
			return p
		}
	}
	t.Fatalf("every new pty is %s", path)
	return nil
}

// ReadFull reads len(b) bytes from the device side, failing the test
// after 10 s.
func (p *testPTY) ReadFull(t *testing.T, b []byte) {
	t.Helper()
	if err := p.Master.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(p.Master, b); err != nil {
		t.Fatalf("device read %q: %v", b[:n], err)
	}
}

// link points the symlink at path to target, atomically, as udev does for
// /dev/serial/by-id/ links.
func link(t *testing.T, path, target string) {
	t.Helper()
	tmp := path + ".new"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// byIDLink returns the path of a by-id style link in a temp dir, pointing
// at target.
func byIDLink(t *testing.T, target string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")
	link(t, path, target)
	return path
}
