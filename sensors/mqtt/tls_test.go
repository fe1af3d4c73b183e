package mqtt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/testca"
)

// TestTLS runs mosquitto with a TLS listener that wants client
// certificates, from a CA made here: ca_file, cert_file and key_file
// connect; without ca_file the log says to set it.
func TestTLS(t *testing.T) {
	ca := testca.New(t)
	tlsPort := freePort(t)
	b := startMosquitto(t, fmt.Sprintf(`
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
`, tlsPort, ca.CA, ca.ServerCert, ca.ServerKey))

	cfg := testConfig(b, "tally-test-tls")
	cfg.Broker = fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort)
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = ca.CA, ca.ClientCert, ca.ClientKey
	sink := newMemSink(t)
	r := startSubscriber(t, cfg, sink)
	r.waitConnected()
	newPublisher(t, b, "", "").publish(tempMsg(2, 2)) // over the plain listener
	waitFor(t, 10*time.Second, "the reading over TLS", func() bool {
		nr, _ := sink.count()
		return nr == 1
	})
	r.stop()

	cfg.ClientID = "tally-test-tls-noca"
	cfg.CAFile = ""
	r = startSubscriber(t, cfg, newMemSink(t))
	waitFor(t, 10*time.Second, "a log line about the certificate", func() bool {
		return strings.Contains(r.log.String(), "cannot connect to the broker")
	})
	if log := r.log.String(); !strings.Contains(log, "unknown authority") || !strings.Contains(log, "ca_file") {
		t.Errorf("log:\n%s", log)
	}
}
