package uplink

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

// testCA is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files (mode 0600) in a temporary directory.
type testCA struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tally test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kder)
	}
	var c testCA
	c.caFile = write("ca.pem", "CERTIFICATE", caDER)
	c.serverCert, c.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return c
}

// TestTLS forwards over mqtts:// to a broker that requires a client
// certificate, and explains a broker certificate the CA does not sign.
func TestTLS(t *testing.T) {
	ca := newTestCA(t)
	b := startMosquitto(t, "cafile "+ca.caFile, "certfile "+ca.serverCert, "keyfile "+ca.serverKey, "require_certificate true")
	g := newGateway(t, 200, time.Hour)
	fill(t, g, 500)

	cfg := testConfig(fmt.Sprintf("mqtts://127.0.0.1:%d", b.port))
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = ca.caFile, ca.clientCert, ca.clientKey
	r := startUplink(t, cfg, g, nil)
	waitForwarded(t, r.u, 500, 10*time.Second)
	if st := r.u.Status(); st.ForwardedCheckpoints != int64(len(storedCheckpoints(t, g.Store, 500))) || st.ForwardedCheckpoints == 0 {
		t.Errorf("status %+v", st)
	}
	r.stop(t)

	other := newTestCA(t)
	cfg.CAFile = other.caFile
	logger, logs := testLogger(t)
	r = startUplink(t, cfg, g, logger)
	deadline := time.Now().Add(10 * time.Second)
	for r.u.Status().ConnectFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", r.u.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop(t)
	if !strings.Contains(logs.String(), "ca_file: it must hold the CA that signed the broker's certificate") {
		t.Errorf("log lacks the ca_file hint:\n%s", logs.String())
	}
}
