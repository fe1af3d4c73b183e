package mosquitto_test

import (
	"net"
	"testing"

	"github.com/tallygw/tally/internal/mosquitto"
)

func TestStartRestartStop(t *testing.T) {
	dir := t.TempDir()
	b, err := mosquitto.Start(dir, "allow_anonymous true", "persistence true", "persistence_location "+dir+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	dial := func() error {
		c, err := net.Dial("tcp", b.Addr())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if dial() == nil || b.Pid() != 0 {
		t.Fatal("still listening after Stop")
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil || b.Pid() == 0 {
		t.Fatalf("not listening after Restart: %v", err)
	}
}
