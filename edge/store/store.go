// Package store keeps a gateway's append-only reading log in SQLite: the
// signed envelopes by seq, the RFC 6962 tree hashes (golang.org/x/mod/sumdb/tlog
// stored-hash layout), the signed checkpoints, per-sensor counters and the
// bounded quarantine of input that could not be decoded.
//
// There is a single writer (Append, WriteCheckpoint, Quarantine); any number
// of goroutines may read. The database runs in WAL mode with
// synchronous=FULL, so a committed Append survives a power cut.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // SQLite driver "sqlite3"
	"golang.org/x/mod/sumdb/tlog"
)

// migrations[i] moves the schema from user_version i to i+1.
var migrations = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE readings (
		seq      INTEGER PRIMARY KEY,
		sensor   TEXT NOT NULL,
		kind     TEXT NOT NULL,
		recv_us  INTEGER NOT NULL,
		msg_id   TEXT,
		envelope BLOB,
		hashes   BLOB NOT NULL
	);
	CREATE UNIQUE INDEX readings_msg_id ON readings(sensor, msg_id) WHERE msg_id IS NOT NULL;
	CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, created_us INTEGER NOT NULL, note BLOB NOT NULL);
	CREATE TABLE sensors (
		sensor       TEXT PRIMARY KEY,
		readings     INTEGER NOT NULL DEFAULT 0,
		last_seq     INTEGER,
		last_kind    TEXT,
		last_recv_us INTEGER,
		duplicates   INTEGER NOT NULL DEFAULT 0,
		quarantined  INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE quarantine (
		id      INTEGER PRIMARY KEY AUTOINCREMENT,
		at_us   INTEGER NOT NULL,
		sensor  TEXT NOT NULL,
		reason  TEXT NOT NULL,
		raw     BLOB
	);`,
	`CREATE TABLE cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_us INTEGER NOT NULL);`,
	`CREATE TABLE gaps (sensor TEXT PRIMARY KEY, refused INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT NULL);`,
	`CREATE TABLE anchors (
		size         INTEGER PRIMARY KEY,
		ledger       TEXT NOT NULL,
		tx_id        TEXT NOT NULL,
		state        TEXT NOT NULL,
		submission   BLOB NOT NULL,
		prepared_us  INTEGER NOT NULL,
		broadcast_us INTEGER,
		final_us     INTEGER,
		receipt      BLOB
	);
	CREATE INDEX anchors_state ON anchors(state);`,
}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(migrations)

// Entry is one signed reading to append. Seq must be the next leaf index.
type Entry struct {
	Seq      int64
	Sensor   string
	Kind     string
	RecvUS   int64
	MsgID    string // empty: no deduplication key
	Envelope []byte
}

// Store is an open gateway database.
type Store struct {
	path string
	w    *sql.DB // the single writer connection
	r    *sql.DB // readers

	mu   sync.Mutex // guards size
	size int64      // committed tree size (number of readings)

	quarantineMax int
	hasMsg        *sql.Stmt // prepared once: the duplicate check runs for every reading with an id
}

// Options tune a Store.
type Options struct {
	QuarantineMax int // rows kept in the quarantine; oldest dropped beyond it (default 10000)
}

// Open opens (creating if needed) the database at path and migrates it.
// origin binds the database to one gateway: opening another gateway's
// database is an error.
func Open(path, origin string, opts Options) (*Store, error) {
	if opts.QuarantineMax <= 0 {
		opts.QuarantineMax = 10000
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=0"
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w (is the data directory writable by this user?)", path, err)
	}
	s := &Store{path: path, w: w, quarantineMax: opts.QuarantineMax}
	if err := s.migrate(origin); err != nil {
		w.Close()
		return nil, err
	}
	if s.hasMsg, err = w.Prepare(`SELECT 1 FROM readings WHERE sensor = ? AND msg_id = ?`); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	r, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	var max sql.NullInt64
	if err := w.QueryRow(`SELECT MAX(seq) FROM readings`).Scan(&max); err != nil {
		s.Close()
		return nil, fmt.Errorf("read log size: %w", err)
	}
	if max.Valid {
		s.size = max.Int64 + 1
	}
	if err := w.QueryRow(`PRAGMA wal_autocheckpoint = 4000`).Scan(new(int)); err != nil {
		s.Close()
		return nil, fmt.Errorf("configure database %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(origin string) error {
	var v int
	if err := s.w.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version of %s: %w", s.path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("database %s has schema version %d, newer than this tally (%d); upgrade tally", s.path, v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := s.w.Begin()
		if err != nil {
			return fmt.Errorf("migrate %s: %w", s.path, err)
		}
		if _, err := tx.Exec(migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to schema %d: %w", s.path, v+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s to schema %d: %w", s.path, v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to schema %d: %w", s.path, v+1, err)
		}
	}
	var have string
	err := s.w.QueryRow(`SELECT value FROM meta WHERE key = 'origin'`).Scan(&have)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := s.w.Exec(`INSERT INTO meta(key, value) VALUES ('origin', ?)`, origin); err != nil {
			return fmt.Errorf("record origin in %s: %w", s.path, err)
		}
	case err != nil:
		return fmt.Errorf("read origin of %s: %w", s.path, err)
	case have != origin:
		return fmt.Errorf("database %s belongs to %q, not %q: point --data at this gateway's own directory", s.path, have, origin)
	}
	return nil
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	var errs []error
	if s.hasMsg != nil {
		s.hasMsg.Close()
		s.hasMsg = nil
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
		s.r = nil
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	return errors.Join(errs...)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Size is the number of committed readings (the tree size).
func (s *Store) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// hashLocation returns the leaf whose row holds stored hash index and the
// hash's position in that row's hashes column. In the tlog layout, appending
// leaf n stores the hashes of every complete subtree ending at n, level 0
// first; the level-L hash number k therefore belongs to leaf (k+1)<<L - 1.
func hashLocation(index int64) (leaf int64, pos int) {
	level, k := tlog.SplitStoredHashIndex(index)
	return (k+1)<<level - 1, level
}

// rowHashReader reads tree hashes from readings rows through stmt, looking
// first in pending (hashes of a batch not yet committed).
type rowHashReader struct {
	ctx     context.Context
	stmt    *sql.Stmt
	pending map[int64][]byte // leaf -> hashes column
}

func (h rowHashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		leaf, pos := hashLocation(idx)
		b, ok := h.pending[leaf]
		if !ok {
			if err := h.stmt.QueryRowContext(h.ctx, leaf).Scan(&b); err != nil {
				return nil, fmt.Errorf("read tree hash %d (seq %d): %w", idx, leaf, err)
			}
		}
		if len(b) < (pos+1)*tlog.HashSize {
			return nil, fmt.Errorf("tree hash %d: seq %d holds %d bytes of hashes", idx, leaf, len(b))
		}
		copy(out[i][:], b[pos*tlog.HashSize:])
	}
	return out, nil
}

// LeafHashes returns the hashes column Append stores for the reading at
// seq with envelope env: the concatenated tlog.StoredHashes.
func LeafHashes(seq int64, env []byte, r tlog.HashReader) ([]byte, error) {
	hs, err := tlog.StoredHashes(seq, env, r)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out, nil
}

// Append commits a batch of entries in one transaction: envelopes, tree
// hashes and per-sensor counters. Entries must carry consecutive seq values
// starting at Size(). When Append returns nil the batch is durable.
func (s *Store) Append(ctx context.Context, batch []Entry) error {
	return s.append(ctx, batch, false)
}

// AppendClosingGaps is Append that also, in the same transaction, clears
// the refusal counts of RecordRefused: the batch carries the signed gap
// event that reports them.
func (s *Store) AppendClosingGaps(ctx context.Context, batch []Entry) error {
	return s.append(ctx, batch, true)
}

func (s *Store) append(ctx context.Context, batch []Entry, closeGaps bool) error {
	if len(batch) == 0 {
		return nil
	}
	size := s.Size()
	for i, e := range batch {
		if e.Seq != size+int64(i) {
			return fmt.Errorf("append: entry %d has seq %d, want %d", i, e.Seq, size+int64(i))
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append: begin: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO readings(seq, sensor, kind, recv_us, msg_id, envelope, hashes) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	defer ins.Close()
	sel, err := tx.PrepareContext(ctx, `SELECT hashes FROM readings WHERE seq = ?`)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	defer sel.Close()
	hr := rowHashReader{ctx: ctx, stmt: sel, pending: make(map[int64][]byte, len(batch))}

	type sensorAgg struct {
		n      int64
		last   int64
		kind   string
		recvUS int64
	}
	agg := map[string]*sensorAgg{}
	for _, e := range batch {
		var msgID any
		if e.MsgID != "" {
			msgID = e.MsgID
		}
		hashes, err := LeafHashes(e.Seq, e.Envelope, hr)
		if err != nil {
			return fmt.Errorf("append seq %d: tree hashes: %w", e.Seq, err)
		}
		hr.pending[e.Seq] = hashes
		if _, err := ins.ExecContext(ctx, e.Seq, e.Sensor, e.Kind, e.RecvUS, msgID, e.Envelope, hashes); err != nil {
			return fmt.Errorf("append seq %d: %w", e.Seq, err)
		}
		a := agg[e.Sensor]
		if a == nil {
			a = &sensorAgg{}
			agg[e.Sensor] = a
		}
		a.n++
		a.last, a.kind, a.recvUS = e.Seq, e.Kind, e.RecvUS
	}
	for sensor, a := range agg {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sensors(sensor, readings, last_seq, last_kind, last_recv_us) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT(sensor) DO UPDATE SET readings = readings + excluded.readings, last_seq = excluded.last_seq,
			last_kind = excluded.last_kind, last_recv_us = excluded.last_recv_us`, sensor, a.n, a.last, a.kind, a.recvUS); err != nil {
			return fmt.Errorf("append: sensor counters: %w", err)
		}
	}
	if closeGaps {
		if _, err := tx.ExecContext(ctx, `DELETE FROM gaps`); err != nil {
			return fmt.Errorf("append: close gaps: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append: commit: %w", err)
	}
	s.mu.Lock()
	s.size += int64(len(batch))
	s.mu.Unlock()
	return nil
}

// HasMsgID reports whether sensor already has a reading with msgID.
func (s *Store) HasMsgID(ctx context.Context, sensor, msgID string) (bool, error) {
	var one int
	err := s.hasMsg.QueryRowContext(ctx, sensor, msgID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("duplicate check: %w", err)
	}
	return true, nil
}

// CountDuplicates adds n to sensor's duplicate counter.
func (s *Store) CountDuplicates(ctx context.Context, sensor string, n int64) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO sensors(sensor, duplicates) VALUES (?, ?)
		ON CONFLICT(sensor) DO UPDATE SET duplicates = duplicates + excluded.duplicates`, sensor, n)
	if err != nil {
		return fmt.Errorf("count duplicates: %w", err)
	}
	return nil
}

// Quarantine keeps raw input that could not be decoded, with the reason,
// dropping the oldest rows beyond the configured maximum.
func (s *Store) Quarantine(ctx context.Context, at time.Time, sensor, reason string, raw []byte) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO quarantine(at_us, sensor, reason, raw) VALUES (?, ?, ?, ?)`, at.UnixMicro(), sensor, reason, raw)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	id, _ := res.LastInsertId()
	if _, err := tx.ExecContext(ctx, `DELETE FROM quarantine WHERE id <= ?`, id-int64(s.quarantineMax)); err != nil {
		return fmt.Errorf("quarantine: trim: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sensors(sensor, quarantined) VALUES (?, 1)
		ON CONFLICT(sensor) DO UPDATE SET quarantined = quarantined + 1`, sensor); err != nil {
		return fmt.Errorf("quarantine: count: %w", err)
	}
	return tx.Commit()
}

// WriteCheckpoint stores a signed checkpoint for tree size.
func (s *Store) WriteCheckpoint(ctx context.Context, size int64, at time.Time, signed []byte) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO checkpoints(size, created_us, note) VALUES (?, ?, ?)`, size, at.UnixMicro(), signed); err != nil {
		return fmt.Errorf("write checkpoint %d: %w", size, err)
	}
	return nil
}

// HashReader returns a tlog.HashReader over committed tree hashes.
func (s *Store) HashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		stmt, err := s.r.PrepareContext(ctx, `SELECT hashes FROM readings WHERE seq = ?`)
		if err != nil {
			return nil, fmt.Errorf("read tree hashes: %w", err)
		}
		defer stmt.Close()
		return rowHashReader{ctx: ctx, stmt: stmt}.ReadHashes(indexes)
	})
}

// TreeHash is the root hash of the first size readings.
func (s *Store) TreeHash(ctx context.Context, size int64) (tlog.Hash, error) {
	return tlog.TreeHash(size, s.HashReader(ctx))
}

// InclusionProof proves reading seq is in the tree of the given size.
func (s *Store) InclusionProof(ctx context.Context, seq, size int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(size, seq, s.HashReader(ctx))
}

// ConsistencyProof proves the tree of size n is a prefix of the tree of size m.
func (s *Store) ConsistencyProof(ctx context.Context, n, m int64) (tlog.TreeProof, error) {
	return tlog.ProveTree(m, n, s.HashReader(ctx))
}

// ErrNotFound is returned for a seq or checkpoint that is not stored.
var ErrNotFound = errors.New("not found")

// Envelope returns the signed envelope of reading seq.
func (s *Store) Envelope(ctx context.Context, seq int64) ([]byte, error) {
	var env []byte
	err := s.r.QueryRowContext(ctx, `SELECT envelope FROM readings WHERE seq = ?`, seq).Scan(&env)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read reading %d: %w", seq, err)
	}
	if env == nil {
		return nil, fmt.Errorf("reading %d was deleted by retention after it was forwarded upstream: %w", seq, ErrNotFound)
	}
	return env, nil
}

// Checkpoint is a stored signed checkpoint.
type Checkpoint struct {
	Size      int64
	CreatedUS int64
	Note      []byte
}

// LatestCheckpoint returns the checkpoint with the largest size, or
// ErrNotFound when there is none.
func (s *Store) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := s.r.QueryRowContext(ctx, `SELECT size, created_us, note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&c.Size, &c.CreatedUS, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("checkpoint: %w", ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("read latest checkpoint: %w", err)
	}
	return c, nil
}

// Checkpoints calls fn for every checkpoint in size order.
func (s *Store) Checkpoints(ctx context.Context, fn func(Checkpoint) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT size, created_us, note FROM checkpoints ORDER BY size`)
	if err != nil {
		return fmt.Errorf("list checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c Checkpoint
		if err := rows.Scan(&c.Size, &c.CreatedUS, &c.Note); err != nil {
			return fmt.Errorf("list checkpoints: %w", err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Row is one stored reading as the audit reads it.
type Row struct {
	Seq      int64
	Sensor   string
	Kind     string
	RecvUS   int64
	MsgID    string
	Envelope []byte // nil once deleted by retention
	Hashes   []byte // the tree hashes stored with this leaf (LeafHashes)
}

// Readings calls fn for every stored reading with seq >= from, in seq order.
func (s *Store) Readings(ctx context.Context, from int64, fn func(Row) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, sensor, kind, recv_us, COALESCE(msg_id, ''), envelope, hashes FROM readings WHERE seq >= ? ORDER BY seq`, from)
	if err != nil {
		return fmt.Errorf("list readings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.Seq, &r.Sensor, &r.Kind, &r.RecvUS, &r.MsgID, &r.Envelope, &r.Hashes); err != nil {
			return fmt.Errorf("list readings: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SensorStats are the stored counters of one sensor.
type SensorStats struct {
	Sensor      string `json:"sensor"`
	Readings    int64  `json:"readings"`
	LastSeq     *int64 `json:"last_seq,omitempty"`
	LastKind    string `json:"last_kind,omitempty"`
	LastRecvUS  *int64 `json:"last_recv_us,omitempty"`
	Duplicates  int64  `json:"duplicates"`
	Quarantined int64  `json:"quarantined"`
}

// Sensors returns the counters of every sensor that has been seen.
func (s *Store) Sensors(ctx context.Context) ([]SensorStats, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT sensor, readings, last_seq, COALESCE(last_kind, ''), last_recv_us, duplicates, quarantined FROM sensors ORDER BY sensor`)
	if err != nil {
		return nil, fmt.Errorf("sensor counters: %w", err)
	}
	defer rows.Close()
	var out []SensorStats
	for rows.Next() {
		var st SensorStats
		var last, recv sql.NullInt64
		if err := rows.Scan(&st.Sensor, &st.Readings, &last, &st.LastKind, &recv, &st.Duplicates, &st.Quarantined); err != nil {
			return nil, fmt.Errorf("sensor counters: %w", err)
		}
		if last.Valid {
			st.LastSeq = &last.Int64
		}
		if recv.Valid {
			st.LastRecvUS = &recv.Int64
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// Quarantined is one quarantine row.
type Quarantined struct {
	ID     int64  `json:"id"`
	AtUS   int64  `json:"at_us"`
	Sensor string `json:"sensor"`
	Reason string `json:"reason"`
	Raw    []byte `json:"raw"`
}

// RecentQuarantine returns the newest n quarantine rows, newest first.
func (s *Store) RecentQuarantine(ctx context.Context, n int) ([]Quarantined, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, at_us, sensor, reason, raw FROM quarantine ORDER BY id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.ID, &q.AtUS, &q.Sensor, &q.Reason, &q.Raw); err != nil {
			return nil, fmt.Errorf("quarantine: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// DiskUse is the size in bytes of the database and its WAL.
func (s *Store) DiskUse() int64 {
	var total int64
	for _, p := range []string{s.path, s.path + "-wal", s.path + "-shm"} {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	return total
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Cursor returns the named persisted position (0 when never set). Cursors
// record how far a background reader (the uplink) got through the log.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.r.QueryRowContext(ctx, `SELECT position FROM cursors WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cursor %s: %w", name, err)
	}
	return pos, nil
}

// SetCursor durably records the named position.
func (s *Store) SetCursor(ctx context.Context, name string, pos int64, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO cursors(name, position, updated_us) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET position = excluded.position, updated_us = excluded.updated_us`, name, pos, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("write cursor %s: %w", name, err)
	}
	return nil
}

// Gap is what was refused from one sensor while the disk budget was reached.
type Gap struct {
	Sensor  string
	Refused int64
	FirstUS int64
	LastUS  int64
}

// RecordRefused durably counts readings refused from sensor at time at.
func (s *Store) RecordRefused(ctx context.Context, sensor string, n int64, at time.Time) error {
	us := at.UnixMicro()
	_, err := s.w.ExecContext(ctx, `INSERT INTO gaps(sensor, refused, first_us, last_us) VALUES (?, ?, ?, ?)
		ON CONFLICT(sensor) DO UPDATE SET refused = refused + excluded.refused, last_us = excluded.last_us`, sensor, n, us, us)
	if err != nil {
		return fmt.Errorf("record refused readings: %w", err)
	}
	return nil
}

// Gaps returns the refusals not yet reported by a gap event.
func (s *Store) Gaps(ctx context.Context) ([]Gap, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT sensor, refused, first_us, last_us FROM gaps ORDER BY sensor`)
	if err != nil {
		return nil, fmt.Errorf("read gaps: %w", err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		if err := rows.Scan(&g.Sensor, &g.Refused, &g.FirstUS, &g.LastUS); err != nil {
			return nil, fmt.Errorf("read gaps: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
