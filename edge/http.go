package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/tallygw/tally/edge/anchorer"
	"github.com/tallygw/tally/edge/broker"
	"github.com/tallygw/tally/edge/ingest"
	"github.com/tallygw/tally/edge/store"
	"github.com/tallygw/tally/edge/uplink"
)

// Status is the JSON document served at /api/status.
type Status struct {
	Gateway    string              `json:"gateway"`
	Origin     string              `json:"origin"`
	Version    string              `json:"version"`
	Started    time.Time           `json:"started"`
	Now        time.Time           `json:"now"`
	Log        ingest.Status       `json:"log"`
	Drivers    []DriverState       `json:"drivers"`
	Sensors    []SensorStatus      `json:"sensors"`
	Quarantine []store.Quarantined `json:"quarantine_recent"`
	Disk       Disk                `json:"disk"`
	Uplink     *uplink.Status      `json:"uplink,omitempty"`
	Broker     *broker.Status      `json:"broker,omitempty"`
	Anchor     *anchorer.Status    `json:"anchor,omitempty"`
}

// SensorStatus is one sensor's counters and last reading.
type SensorStatus struct {
	store.SensorStats
	LastReadingAt *time.Time `json:"last_reading_at,omitempty"`
}

// Disk is the store's disk use and the free space left.
type Disk struct {
	DataDir   string `json:"data_dir"`
	DBBytes   int64  `json:"db_bytes"`
	FreeBytes int64  `json:"free_bytes"`
}

func (s *System) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.pipeline.Ready():
		default:
			http.Error(w, "starting: checking the store", http.StatusServiceUnavailable)
			return
		}
		if err := s.store.Ping(r.Context()); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /api/anchor", func(w http.ResponseWriter, r *http.Request) {
		if s.anchor == nil {
			http.Error(w, "no ledger configured (anchor.backend is none or absent)", http.StatusConflict)
			return
		}
		s.anchor.Trigger()
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("anchoring the newest checkpoint now\n"))
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	return mux
}

// Status collects the status document.
func (s *System) Status(ctx context.Context) (*Status, error) {
	sensorStats, err := s.store.Sensors(ctx)
	if err != nil {
		return nil, err
	}
	q, err := s.store.RecentQuarantine(ctx, 10)
	if err != nil {
		return nil, err
	}
	st := &Status{
		Gateway: s.cfg.Gateway.ID, Origin: s.cfg.Origin(), Version: Version,
		Started: s.started, Now: time.Now(), Log: s.pipeline.Status(), Quarantine: q,
		Disk: Disk{DataDir: s.cfg.DataDir, DBBytes: s.store.DiskUse()},
	}
	var fs unix.Statfs_t
	if unix.Statfs(s.cfg.DataDir, &fs) == nil {
		st.Disk.FreeBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	if s.broker != nil {
		bs := s.broker.Status()
		st.Broker = &bs
	}
	if s.anchor != nil {
		as := s.anchor.Status()
		st.Anchor = &as
	}
	if s.uplink != nil {
		us := s.uplink.Status()
		st.Uplink = &us
	}
	for _, ss := range sensorStats {
		out := SensorStatus{SensorStats: ss}
		if ss.LastRecvUS != nil {
			t := time.UnixMicro(*ss.LastRecvUS)
			out.LastReadingAt = &t
		}
		st.Sensors = append(st.Sensors, out)
	}
	s.mu.Lock()
	for _, d := range s.states {
		st.Drivers = append(st.Drivers, *d)
	}
	s.mu.Unlock()
	sort.Slice(st.Drivers, func(i, j int) bool { return st.Drivers[i].ID < st.Drivers[j].ID })
	return st, nil
}
