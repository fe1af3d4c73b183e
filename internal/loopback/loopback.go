// Package loopback finds free TCP ports on loopback addresses for the
// servers tests and `tally bench` start (mosquitto, CometBFT, geth).
package loopback

import (
	"fmt"
	"net"
)

// FreePorts returns k distinct ports nobody listens on at ip (for a
// moment: the caller binds them next and retries if one was taken).
func FreePorts(ip string, k int) ([]int, error) {
	ports := make([]int, 0, k)
	for range k {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s: %w", ip, err)
		}
		defer l.Close() // held until all k are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort returns one free port on 127.0.0.1.
func FreePort() (int, error) {
	p, err := FreePorts("127.0.0.1", 1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}
