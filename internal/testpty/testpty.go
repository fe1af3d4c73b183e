// Package testpty gives tests real pseudo-terminals in raw mode, standing in
// for a serial adapter: the test writes device output to Master, the code
// under test opens Path like /dev/ttyUSB0, and Unplug makes the device
// vanish as a pulled USB adapter does.
package testpty

import (
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is one pseudo-terminal pair.
type PTY struct {
	Master *os.File
	Path   string // the slave device, /dev/pts/N
	slave  *os.File
}

// New opens a pty with its slave side in raw mode (no echo, no CR/LF
// translation); test cleanup unplugs it.
func New(t testing.TB) *PTY {
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
	m.Close()
	p := &PTY{Master: os.NewFile(uintptr(fd), "/dev/ptmx"), Path: s.Name(), slave: s}
	t.Cleanup(p.Unplug)
	return p
}

// Unplug closes both sides: the slave node disappears and whoever has it
// open gets a hangup. Safe to call more than once.
func (p *PTY) Unplug() {
	if p.slave != nil {
		p.slave.Close()
		p.slave = nil
	}
	if p.Master != nil {
		p.Master.Close()
		p.Master = nil
	}
}
