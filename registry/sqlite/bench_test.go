package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/registry"
	"github.com/pushwire/pushwire/registry/registrytest"
	"github.com/pushwire/pushwire/registry/sqlite"
)

const benchPopulation = 3000

func benchRegistry(b *testing.B) *sqlite.Registry {
	r := open(b, registry.Config{SweepInterval: -1}, filepath.Join(b.TempDir(), "bench.db"))
	registrytest.Populate(b, r, benchPopulation)
	return r
}

// BenchmarkLookup: a session with three devices, on disk with WAL.
func BenchmarkLookup(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchLookup(b, r, benchPopulation)
}

// BenchmarkRegister: re-registration of known tokens (upsert + cap check in
// one transaction), on disk with WAL.
func BenchmarkRegister(b *testing.B) {
	r := benchRegistry(b)
	registrytest.BenchRegister(b, r, benchPopulation)
}

// BenchmarkWriterPool backs the single-writer design: 32 goroutines run a
// read-then-write transaction shaped like Register against a WAL database,
// through one connection or a pool of four, with deferred or immediate
// transactions. It reports throughput and how many transactions failed
// with SQLITE_BUSY despite the busy timeout.
func BenchmarkWriterPool(b *testing.B) {
	for _, tc := range []struct {
		conns  int
		txlock string
	}{{1, "immediate"}, {4, "immediate"}, {4, "deferred"}} {
		b.Run(fmt.Sprintf("conns=%d/txlock=%s", tc.conns, tc.txlock), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "w.db")
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock="+tc.txlock)
			require.NoError(b, err)
			defer db.Close()
			db.SetMaxOpenConns(tc.conns)
			_, err = db.Exec(`CREATE TABLE t (token TEXT PRIMARY KEY, session TEXT NOT NULL, updated INTEGER NOT NULL);
				CREATE INDEX t_s ON t (session, updated)`)
			require.NoError(b, err)
			var busy, seq atomic.Int64
			b.SetParallelism((32 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					err := func() error {
						tx, err := db.Begin()
						if err != nil {
							return err
						}
						defer tx.Rollback()
						var n int
						if err := tx.QueryRow("SELECT count(*) FROM t WHERE session = ?", fmt.Sprint("s", i%1000)).Scan(&n); err != nil {
							return err
						}
						if _, err := tx.Exec("INSERT INTO t VALUES (?, ?, ?) ON CONFLICT (token) DO UPDATE SET session = excluded.session, updated = excluded.updated",
							fmt.Sprint("t", i%3000), fmt.Sprint("s", i%1000), i); err != nil {
							return err
						}
						return tx.Commit()
					}()
					if err != nil {
						if !strings.Contains(err.Error(), "SQLITE_BUSY") && !strings.Contains(err.Error(), "database is locked") {
							b.Error(err)
							return
						}
						busy.Add(1)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			b.ReportMetric(float64(busy.Load()), "busy-errors")
		})
	}
}
