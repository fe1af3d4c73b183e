package uplink

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tallygw/tally/internal/testca"
)

// TestTLS forwards over mqtts:// to a broker that requires a client
// certificate, and explains a broker certificate the CA does not sign.
func TestTLS(t *testing.T) {
	ca := testca.New(t)
	b := startMosquitto(t, "cafile "+ca.CA, "certfile "+ca.ServerCert, "keyfile "+ca.ServerKey, "require_certificate true")
	g := newGateway(t, 200, time.Hour)
	fill(t, g, 500)

	cfg := testConfig(fmt.Sprintf("mqtts://127.0.0.1:%d", b.port))
	cfg.CAFile, cfg.CertFile, cfg.KeyFile = ca.CA, ca.ClientCert, ca.ClientKey
	r := startUplink(t, cfg, g, nil)
	waitForwarded(t, r.u, 500, 10*time.Second)
	if st := r.u.Status(); st.ForwardedCheckpoints != int64(len(storedCheckpoints(t, g.Store, 500))) || st.ForwardedCheckpoints == 0 {
		t.Errorf("status %+v", st)
	}
	r.stop(t)

	other := testca.New(t)
	cfg.CAFile = other.CA
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
