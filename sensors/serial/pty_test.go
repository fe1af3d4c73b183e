package serial

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// testPTY is a pseudo-terminal standing in for a serial device: the test
// plays the device on the master side; the code under test opens Path.
type testPTY struct {
	Master *os.File
	Path   string // the slave device, /dev/pts/N
	slave  *os.File
}

// newPTY opens a pty with its slave side in raw mode (no echo, no CR/LF
// translation) and closes it at the end of the test.
func newPTY(t *testing.T) *testPTY {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("pty termios: %v", err)
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatalf("pty raw mode: %v", err)
	}
	// pty.Open called m.Fd(), which leaves the master blocking, without
	// read deadlines; a non-blocking duplicate goes through the poller.
	fd, err := unix.Dup(int(m.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "/dev/ptmx")
	p := &testPTY{Master: master, Path: s.Name(), slave: s}
	t.Cleanup(p.Unplug)
	return p
}

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

// Unplug closes both sides: the slave node disappears and whoever has it
// open gets a hangup, as with a USB adapter pulled out.
func (p *testPTY) Unplug() {
	p.Master.Close()
	p.slave.Close()
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
