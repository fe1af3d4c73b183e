package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// ConnectError is a failed connection attempt: either the broker answered
// CONNACK with a refusal (Code 1–5) or the network or TLS handshake failed
// (Code 0xfe or 0xff). Hint says what a technician should check.
type ConnectError struct {
	Code   byte
	Reason string
	Hint   string
	Err    error
}

func (e *ConnectError) Error() string {
	if e.Refused() {
		return fmt.Sprintf("broker refused the connection: %s (CONNACK %d)", e.Reason, e.Code)
	}
	return e.Err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Refused reports whether the broker answered and said no.
func (e *ConnectError) Refused() bool {
	return e.Code >= packets.ErrRefusedBadProtocolVersion && e.Code <= packets.ErrRefusedNotAuthorised
}

// connectError explains a failed paho Connect with CONNACK code.
func connectError(code byte, err error) error {
	e := &ConnectError{Code: code, Err: err}
	switch code {
	case packets.ErrRefusedBadProtocolVersion:
		e.Reason = "unacceptable protocol version"
		e.Hint = "the broker does not accept MQTT 3.1.1 on this port; enable it on the listener"
	case packets.ErrRefusedIDRejected:
		e.Reason = "client identifier rejected"
		e.Hint = "client_id: the broker restricts its length or characters, or requires a registered id"
	case packets.ErrRefusedServerUnavailable:
		e.Reason = "server unavailable"
		e.Hint = "the broker is up but not taking sessions; it is retried, ask the platform operator if it persists"
	case packets.ErrRefusedBadUsernameOrPassword:
		e.Reason = "bad user name or password"
		e.Hint = "username and the content of password_file (one line; a trailing newline is ignored)"
	case packets.ErrRefusedNotAuthorised:
		e.Reason = "not authorized"
		e.Hint = "the broker's ACL or device registry for this username, client_id or client certificate"
	default:
		e.Hint = networkHint(err)
	}
	return e
}

// networkHint names what to check for a connection that failed before
// the broker could answer.
func networkHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	var dns *net.DNSError
	switch {
	case errors.As(err, &unknownCA):
		return "ca_file: it must hold the CA that signed the broker's certificate"
	case errors.As(err, &hostname):
		return "the broker host name in broker must match the name in its certificate"
	case errors.As(err, &invalid):
		return "the broker's certificate is expired or not yet valid: check the gateway clock (tally check) and the certificate"
	case errors.As(err, &alert):
		return "the broker rejected the TLS handshake: cert_file and key_file (client certificate) and its TLS settings"
	case errors.As(err, &rec):
		return "the port does not speak TLS: use tcp:// for a plain listener, or the broker's TLS port"
	case errors.As(err, &dns):
		return "the broker host name does not resolve: DNS and the network link"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens on the broker's host and port: is the broker running, is the port right?"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return "no answer from the broker: the network link (cellular or satellite), firewall, host and port"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to the broker: the network link is down"
	}
	return "the broker URL, the network link and the broker itself"
}
