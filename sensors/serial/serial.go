// Package serial is the serial port I/O under the line drivers (nmea,
// eseal, lines) and the Modbus poller: opening a port with errors a
// technician can act on, framing its byte stream into lines, and keeping
// it open across unplugs.
//
// Config is one port's settings (the yaml section of a serial sensor).
// Open opens it through go.bug.st/serial, resolving a /dev/serial/by-id/
// link each time. A Framer splits bytes into lines without any I/O; it is
// what the line loop uses and what the fuzz test exercises.
//
// LineRunner (or RunLines) is the loop for line drivers: it opens the
// port, feeds each line to a sensors.LineDecoder, hands readings to a
// sensors.Sink, writes acknowledgements back for accepted readings, and
// quarantines what does not decode. PortRunner (or RunPort) is the same
// reconnect loop for a driver that owns the port while it is open (the
// Modbus poller, built once over PortRunner.Port, a handle that follows
// the port across reconnects). Both survive the port going away: they log
// once, retry with backoff and jitter, and log again when the port is
// back. They return only when their context is done.
//
// List enumerates the serial ports with their USB ids and stable links
// for `tally ports`.
package serial

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	bugserial "go.bug.st/serial"
)

// Port is an open serial port. Read waits at most the read timeout and
// returns (0, nil) when no byte arrived in that time. A go.bug.st/serial
// Port satisfies it, and a Port satisfies modbus.Port.
//
// Close must not be called while a Read is in progress on another
// goroutine (go.bug.st/serial closes the file descriptor first, and a
// concurrent read could land on a reused descriptor).
type Port interface {
	io.ReadWriteCloser
	SetReadTimeout(d time.Duration) error
}

// Open applies cfg's defaults, validates it, and opens the port it names
// with its line settings and read timeout. A Port link (such as
// /dev/serial/by-id/...) is resolved first. Errors are *ConfigError or
// *OpenError.
func Open(cfg Config) (Port, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, _, err := open(cfg)
	return p, err
}

// open opens a validated cfg and returns the port and the device path the
// configured path resolved to.
func open(cfg Config) (Port, string, error) {
	dev, err := filepath.EvalSymlinks(cfg.Port)
	if err != nil {
		return nil, "", newOpenError(cfg.Port, "", err)
	}
	p, err := bugserial.Open(dev, cfg.mode())
	if err != nil {
		return nil, dev, newOpenError(cfg.Port, dev, err)
	}
	if err := p.SetReadTimeout(cfg.ReadTimeout); err != nil {
		closeErr := p.Close()
		return nil, dev, newOpenError(cfg.Port, dev, errors.Join(err, closeErr))
	}
	return p, dev, nil
}

// OpenError is a failure to open a serial port. Its message says what to
// do about it:
//
//	open serial /dev/ttyUSB0: permission denied (is the user in group dialout? usermod -aG dialout tally)
//	open serial /dev/ttyUSB0: no such device (is the adapter plugged in? see: tally ports)
//	open serial /dev/ttyUSB0: port busy (another program has it open: ...)
//
// Err is the underlying error; errors.Is(err, fs.ErrPermission),
// fs.ErrNotExist and syscall.EBUSY work through it.
type OpenError struct {
	Port   string // the configured path
	Device string // what Port resolved to, when it is a link; else empty
	Err    error
	msg    string // the explanation after the path
}

func (e *OpenError) Error() string {
	path := e.Port
	if e.Device != "" && e.Device != e.Port {
		path += " -> " + e.Device
	}
	return "open serial " + path + ": " + e.msg
}

func (e *OpenError) Unwrap() error { return e.Err }

// newOpenError classifies err from resolving or opening port (resolved to
// dev, when known) into an *OpenError with a technician's explanation.
func newOpenError(port, dev string, err error) *OpenError {
	e := &OpenError{Port: port, Device: dev, Err: err}
	var pe *bugserial.PortError
	code := bugserial.PortErrorCode(-1)
	if errors.As(err, &pe) {
		code = pe.Code()
		// go.bug.st/serial drops the errno for these; put it back so that
		// errors.Is works.
		switch code {
		case bugserial.PermissionDenied:
			e.Err = fmt.Errorf("%w: %w", err, syscall.EACCES)
		case bugserial.PortBusy:
			e.Err = fmt.Errorf("%w: %w", err, syscall.EBUSY)
		case bugserial.PortNotFound:
			e.Err = fmt.Errorf("%w: %w", err, syscall.ENOENT)
		}
	}
	target := dev
	if target == "" {
		target = port
	}
	switch {
	case errors.Is(e.Err, fs.ErrPermission):
		e.msg = "permission denied (" + permissionHint(target) + ")"
	case errors.Is(e.Err, fs.ErrNotExist), errors.Is(e.Err, syscall.ENODEV), errors.Is(e.Err, syscall.ENXIO):
		e.msg = "no such device (is the adapter plugged in? see: tally ports)"
	case errors.Is(e.Err, syscall.EBUSY):
		e.msg = "port busy (another program has it open: find it with `fuser " + target +
			"`; ModemManager grabs new USB serial adapters unless told to ignore them)"
	case code == bugserial.InvalidSerialPort, errors.Is(e.Err, syscall.ENOTTY):
		e.msg = "not usable as a serial port (" + err.Error() + ")"
	case errors.Is(e.Err, syscall.EISDIR):
		e.msg = "is a directory, not a serial port (see: tally ports)"
	default:
		e.msg = unwrapPathError(err).Error()
	}
	return e
}

// unwrapPathError drops the "op path:" prefix of an *fs.PathError, which
// OpenError's message already gives.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		return pe.Err
	}
	return err
}

// permissionHint says how to get access to the device node at path: join
// the group that owns it (dialout on Debian, uucp elsewhere), or, for a
// node only root may open, add a udev rule.
func permissionHint(path string) string {
	group := "dialout"
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err == nil {
		if st.Gid == 0 {
			return "the device node belongs to group root: add a udev rule with GROUP=\"dialout\", MODE=\"0660\""
		}
		if g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10)); err == nil {
			group = g.Name
		}
	}
	name := "tally"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return "is the user in group " + group + "? usermod -aG " + group + " " + name
}

// gone reports whether the device node at dev has vanished (an unplugged
// USB adapter, a closed pty).
func gone(dev string) bool {
	_, err := os.Stat(dev)
	return err != nil
}
