package serial

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		return "tally"
	}
	return u.Username
}

// Open works on a pty through go.bug.st/serial, link resolution included,
// in both directions, and a read times out as (0, nil).
func TestOpenPTY(t *testing.T) {
	tp := newPTY(t)
	cfg := Config{Port: byIDLink(t, tp.Path), Baud: 4800, ReadTimeout: 50 * time.Millisecond}
	p, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer p.Close()

	if _, err := tp.Master.Write([]byte("$GPGGA,1\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); len(got) < 10 && time.Now().Before(deadline); {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "$GPGGA,1\r\n" {
		t.Errorf("read %q", got)
	}

	if _, err := p.Write([]byte("ACK\r\n")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 5)
	if tp.ReadFull(t, back); string(back) != "ACK\r\n" {
		t.Errorf("device read %q", back)
	}

	start := time.Now()
	if n, err := p.Read(buf); n != 0 || err != nil {
		t.Errorf("idle read = %d, %v; want 0, nil", n, err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("idle read returned after %v, before the timeout", d)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "usb-gone-if00-port0")
	if err := os.Symlink(filepath.Join(dir, "ttyUSB9"), dangling); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		port string
		want string
		is   error
	}{
		{filepath.Join(dir, "ttyUSB0"), "open serial " + filepath.Join(dir, "ttyUSB0") + ": no such device (is the adapter plugged in? see: tally ports)", fs.ErrNotExist},
		{dangling, "open serial " + dangling + ": no such device (is the adapter plugged in? see: tally ports)", fs.ErrNotExist},
		{regular, "open serial " + regular + ": not usable as a serial port (", nil},
		{dir, "open serial " + dir + ": is a directory, not a serial port (see: tally ports)", syscall.EISDIR},
	}
	for _, tc := range tests {
		_, err := Open(Config{Port: tc.port})
		var oe *OpenError
		if !errors.As(err, &oe) {
			t.Errorf("Open(%s) = %v, want an *OpenError", tc.port, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Open(%s):\n got %s\nwant %s", tc.port, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("Open(%s) = %v, not %v", tc.port, err, tc.is)
		}
	}
	if _, err := Open(Config{Port: "/dev/ttyUSB0", Baud: 12345}); err == nil || err.Error() != "baud: 12345 is not a standard rate ("+joinInts(StandardBauds())+")" {
		t.Errorf("Open with a bad baud: %v", err)
	}
}

// The messages of failures a test cannot cause as root (permission denied:
// root bypasses permissions and TIOCEXCL) are checked on synthetic errors.
func TestOpenErrorMessages(t *testing.T) {
	dir := t.TempDir()
	dialoutNode := filepath.Join(dir, "dialout-node")
	rootNode := filepath.Join(dir, "root-node")
	for _, f := range []string{dialoutNode, rootNode} {
		if err := os.WriteFile(f, nil, 0o660); err != nil {
			t.Fatal(err)
		}
	}
	haveDialout := false
	if g, err := user.LookupGroup("dialout"); err == nil {
		var gid int
		fmt.Sscan(g.Gid, &gid)
		haveDialout = os.Chown(dialoutNode, -1, gid) == nil
	}
	if err := os.Chown(rootNode, -1, 0); err != nil {
		t.Logf("chown to root: %v", err)
	}
	me := currentUser(t)

	tests := []struct {
		name      string
		port, dev string
		err       error
		want      string
		is        error
	}{
		{
			name: "permission, node unknown",
			port: "/dev/ttyUSB0",
			err:  &fs.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.EACCES},
			want: "open serial /dev/ttyUSB0: permission denied (is the user in group dialout? usermod -aG dialout " + me + ")",
			is:   fs.ErrPermission,
		},
		{
			name: "permission, group from the node",
			port: "/dev/serial/by-id/usb-x", dev: dialoutNode,
			err:  syscall.EACCES,
			want: "open serial /dev/serial/by-id/usb-x -> " + dialoutNode + ": permission denied (is the user in group dialout? usermod -aG dialout " + me + ")",
			is:   fs.ErrPermission,
		},
		{
			name: "permission, root-only node",
			port: rootNode,
			err:  syscall.EPERM,
			want: "open serial " + rootNode + ": permission denied (the device node belongs to group root: add a udev rule with GROUP=\"dialout\", MODE=\"0660\")",
			is:   fs.ErrPermission,
		},
		{
			name: "not found",
			port: "/dev/ttyUSB0",
			err:  syscall.ENOENT,
			want: "open serial /dev/ttyUSB0: no such device (is the adapter plugged in? see: tally ports)",
			is:   fs.ErrNotExist,
		},
		{
			name: "no device",
			port: "/dev/ttyS4",
			err:  syscall.ENXIO,
			want: "open serial /dev/ttyS4: no such device (is the adapter plugged in? see: tally ports)",
			is:   syscall.ENXIO,
		},
		{
			name: "busy",
			port: "/dev/ttyACM0",
			err:  syscall.EBUSY,
			want: "open serial /dev/ttyACM0: port busy (another program has it open: find it with `fuser /dev/ttyACM0`; ModemManager grabs new USB serial adapters unless told to ignore them)",
			is:   syscall.EBUSY,
		},
		{
			name: "other",
			port: "/dev/ttyUSB0",
			err:  &fs.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.EIO},
			want: "open serial /dev/ttyUSB0: input/output error",
			is:   syscall.EIO,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dev == dialoutNode && !haveDialout {
				t.Skip("no dialout group to give the node")
			}
			err := newOpenError(tc.port, tc.dev, tc.err)
			if err.Error() != tc.want {
				t.Errorf("\n got %s\nwant %s", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
		})
	}
}
