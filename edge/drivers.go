package edge

import (
	"fmt"
	"log/slog"

	"github.com/tallygw/tally/edge/config"
)

// newDriver builds the driver for one configured sensor. Every driver this
// build knows is listed here, explicitly.
func newDriver(sc config.Sensor, cfg *config.Config, logger *slog.Logger) (driver, error) {
	switch sc.Driver {
	default:
		return nil, fmt.Errorf("driver %q is not built into this tally", sc.Driver)
	}
}
