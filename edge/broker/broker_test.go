package broker_test

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tallygw/tally/edge/broker"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func connect(t *testing.T, url, user, pass string) error {
	o := paho.NewClientOptions().AddBroker(url).SetClientID("t-" + user + pass).SetConnectTimeout(3 * time.Second).SetAutoReconnect(false)
	if user != "" {
		o.SetUsername(user).SetPassword(pass)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	tok.WaitTimeout(5 * time.Second)
	if tok.Error() == nil {
		c.Disconnect(100)
	}
	return tok.Error()
}

func start(t *testing.T, cfg broker.Config) *broker.Broker {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sensors.pass"), []byte("s3cret\n"), 0o600)
	b, err := broker.New(cfg, func(n string) string { return filepath.Join(dir, n) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestAuthentication(t *testing.T) {
	b := start(t, broker.Config{Listen: freeAddr(t), Users: []broker.User{{Username: "sensors", PasswordFile: "sensors.pass"}}})
	if err := connect(t, b.URL(), "sensors", "s3cret"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := connect(t, b.URL(), "sensors", "guess"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := connect(t, b.URL(), "", ""); err == nil {
		t.Fatal("anonymous client accepted without allow_anonymous_loopback")
	}
	in := b.Internal()
	if err := connect(t, in.URL, in.Username, in.Password); err != nil {
		t.Fatalf("the daemon's own credentials refused: %v", err)
	}
}

func TestAnonymousLoopbackOnlyWhenAllowed(t *testing.T) {
	b := start(t, broker.Config{Listen: freeAddr(t), AllowAnonymousLoopback: true})
	if err := connect(t, b.URL(), "", ""); err != nil {
		t.Fatalf("anonymous loopback client refused: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "open.pass"), []byte("pw\n"), 0o644)
	resolve := func(n string) string { return filepath.Join(dir, n) }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for cfg, want := range map[*broker.Config]string{
		{Listen: freeAddr(t)}: "no users and allow_anonymous_loopback is false",
		{Listen: freeAddr(t), Users: []broker.User{{Username: "a", PasswordFile: "open.pass"}}}:    "chmod 600",
		{Listen: freeAddr(t), Users: []broker.User{{Username: "a", PasswordFile: "missing.pass"}}}: "no such file",
	} {
		if _, err := broker.New(*cfg, resolve, log); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", cfg, err, want)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	b := start(t, broker.Config{Listen: freeAddr(t), AllowAnonymousLoopback: true})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()
}
