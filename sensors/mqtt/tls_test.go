package mqtt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLS runs mosquitto with a TLS listener that wants client
// certificates, from a CA made here: ca_file, cert_file and key_file
// connect; without ca_file the log says to set it.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := makeCert(t, dir, "ca", nil, nil)
	makeCert(t, dir, "server", ca, caKey)
	makeCert(t, dir, "client", ca, caKey)
	tlsPort := freePort(t)
	b := startMosquitto(t, fmt.Sprintf(`
listener %d 127.0.0.1
cafile %[2]s/ca.pem
certfile %[2]s/server.pem
keyfile %[2]s/server.key
require_certificate true
`, tlsPort, dir))

	cfg := testConfig(b, "tally-test-tls")
	cfg.Broker = fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort)
	cfg.CAFile = filepath.Join(dir, "ca.pem")
	cfg.CertFile = filepath.Join(dir, "client.pem")
	cfg.KeyFile = filepath.Join(dir, "client.key")
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

// makeCert writes NAME.pem and NAME.key: a CA when parent is nil, else a
// certificate for 127.0.0.1 signed by parent.
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "tally test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
