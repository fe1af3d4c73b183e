package sensors

import (
	"fmt"
	"time"
)

// ConfigError reports an invalid driver config. Key is the path of the
// offending key within the driver's section ("fields.t.type"), so the
// config loader can point at the file and line that hold it. Driver, when
// set, prefixes the message for errors shown without that context.
type ConfigError struct {
	Driver string
	Key    string
	Err    error
}

func (e *ConfigError) Error() string {
	if e.Driver != "" {
		return e.Driver + ": " + e.Key + ": " + e.Err.Error()
	}
	return e.Key + ": " + e.Err.Error()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ConfigErr returns a *ConfigError for key with a formatted message.
func ConfigErr(driver, key, format string, args ...any) error {
	return &ConfigError{Driver: driver, Key: key, Err: fmt.Errorf(format, args...)}
}

// DefaultReconnect fills in unset reconnect backoff bounds. A max set
// alone below the default min lowers the min to it ("reconnect_max:
// 500ms" alone is honoured); an unset max is at least the min.
func DefaultReconnect(min, max *time.Duration, defMin, defMax time.Duration) {
	if *min == 0 {
		*min = defMin
		if *max > 0 && *max < *min {
			*min = *max
		}
	}
	if *max == 0 {
		*max = defMax
		if *max < *min {
			*max = *min
		}
	}
}
