package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushwire/pushwire/apns/apnstest"
	"github.com/pushwire/pushwire/connector"
	"github.com/pushwire/pushwire/fcm/fcmtest"
	"github.com/pushwire/pushwire/hmacverify"
	"github.com/pushwire/pushwire/internal/testenv"
)

// proc is one running connector program.
type proc struct {
	base      string
	out, errb *testenv.SyncBuffer
	cancel    context.CancelFunc
	done      chan int
}

// start runs the program with args and waits until it listens.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{out: &testenv.SyncBuffer{}, errb: &testenv.SyncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		p.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, args...), p.out, p.errb)
	}()
	require.Eventually(t, func() bool {
		select {
		case code := <-p.done:
			p.done <- code
			return true
		default:
		}
		m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(p.out.String())
		if m != nil {
			p.base = m[1]
		}
		return m != nil
	}, 20*time.Second, 5*time.Millisecond)
	require.NotEmpty(t, p.base, "did not start; stderr: %s", p.errb.String())
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the program as SIGINT does and checks it exits 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case code := <-p.done:
		assert.Equal(t, 0, code, "stderr: %s", p.errb.String())
	case <-time.After(20 * time.Second):
		t.Fatal("the program did not stop")
	}
}

const adminToken = "admin-token-0123456789"

func (p *proc) do(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *proc) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return p.do(t, method, connector.BasePath+path, body, "Authorization", "Bearer "+adminToken)
}

// callback sends a callback for session signed with secret.
func (p *proc) callback(t *testing.T, session, secret string) (int, string) {
	t.Helper()
	eventID := uuid.NewString()
	ev := `{"eventId":"` + eventID + `","sessionId":"` + session + `","conversationId":"c","customerId":"x","eventDate":"2024-03-18T11:00:24.481Z"}`
	return p.do(t, http.MethodPost, connector.BasePath+"/axp-callback/notifications", ev,
		"X-hmac", hmacverify.Sign([]byte(secret), eventID, session))
}

// backend is a -registry DSN and a way to dump what it stores.
type backend struct {
	dsn  string
	dump func(t *testing.T) []byte
}

func sqliteBackend(t *testing.T) backend {
	dir := t.TempDir()
	return backend{dsn: "sqlite:" + filepath.Join(dir, "reg.db"), dump: func(t *testing.T) []byte {
		var all []byte
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries { // reg.db, its -wal and -shm, and reg.db.key
			if strings.HasSuffix(e.Name(), ".key") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			all = append(all, b...)
		}
		require.NotEmpty(t, all)
		return all
	}}
}

func postgresBackend(t *testing.T) backend {
	url := os.Getenv("PUSHWIRE_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PUSHWIRE_POSTGRES_URL is not set under CI")
		}
		t.Skip("PUSHWIRE_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	schema := "cx_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(ctx)
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return backend{dsn: url + sep + "search_path=" + schema, dump: func(t *testing.T) []byte {
		// A SELECT of every row of every table of the schema, bytea
		// columns as their raw bytes.
		rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
		require.NoError(t, err)
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Contains(t, tables, "pushwire_configs")
		var all bytes.Buffer
		for _, tbl := range tables {
			rows, err := conn.Query(ctx, "SELECT * FROM "+pgx.Identifier{schema, tbl}.Sanitize())
			require.NoError(t, err)
			for rows.Next() {
				vals, err := rows.Values()
				require.NoError(t, err)
				for _, v := range vals {
					if b, ok := v.([]byte); ok {
						all.Write(b)
					} else {
						fmt.Fprintf(&all, "%v", v)
					}
					all.WriteByte('\t')
				}
			}
			require.NoError(t, rows.Err())
		}
		return all.Bytes()
	}}
}

// redisDB is the database the program's tests use, flushed before use.
const redisDB = 7

func redisBackend(t *testing.T) backend {
	url := os.Getenv("PUSHWIRE_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PUSHWIRE_REDIS_URL is not set under CI")
		}
		t.Skip("PUSHWIRE_REDIS_URL is not set")
	}
	opt, err := goredis.ParseURL(url)
	require.NoError(t, err)
	opt.DB = redisDB
	client := goredis.NewClient(opt)
	ctx := context.Background()
	require.NoError(t, client.FlushDB(ctx).Err())
	t.Cleanup(func() {
		_ = client.FlushDB(ctx).Err()
		_ = client.Close()
	})
	dsn := fmt.Sprintf("redis://%s/%d", opt.Addr, redisDB)
	return backend{dsn: dsn, dump: func(t *testing.T) []byte {
		// SCAN every key; DUMP it and read its value in full (DUMP may
		// compress long strings).
		var all bytes.Buffer
		iter := client.Scan(ctx, 0, "*", 100).Iterator()
		n := 0
		for iter.Next(ctx) {
			k := iter.Val()
			n++
			d, err := client.Dump(ctx, k).Result()
			require.NoError(t, err)
			all.WriteString(k + "\t" + d + "\t")
			switch typ := client.Type(ctx, k).Val(); typ {
			case "string":
				all.WriteString(client.Get(ctx, k).Val())
			case "hash":
				for f, v := range client.HGetAll(ctx, k).Val() {
					all.WriteString(f + "\t" + v + "\t")
				}
			case "set":
				all.WriteString(strings.Join(client.SMembers(ctx, k).Val(), "\t"))
			case "zset":
				all.WriteString(strings.Join(client.ZRange(ctx, k, 0, -1).Val(), "\t"))
			}
			all.WriteByte('\n')
		}
		require.NoError(t, iter.Err())
		require.Positive(t, n)
		return all.Bytes()
	}}
}

// stateFiles writes the admin token and, for PostgreSQL and Redis, a state
// key file; it returns the flags naming them.
func stateFiles(t *testing.T, dsn string, fake *fcmtest.Server) []string {
	dir := t.TempDir()
	admin := filepath.Join(dir, "admin")
	require.NoError(t, os.WriteFile(admin, []byte(adminToken+"\n"), 0o600))
	args := []string{"-registry", dsn, "-admin-token-file", admin, "-fcm-base-url", fake.URL}
	if !strings.HasPrefix(dsn, "sqlite:") {
		key := filepath.Join(dir, "state.key")
		var out, errb testenv.SyncBuffer
		require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", key}, &out, &errb), errb.String())
		args = append(args, "-state-key-file", key)
	}
	return args
}

// configBody is the admin body of the scenario: a service account, the
// secret "secret-two-0123456789" plus a long one easy to find in a dump, and an APNs key.
func configBody(t *testing.T, fake *fcmtest.Server, apnsKey []byte, secrets ...string) string {
	b, err := json.Marshal(map[string]any{
		"fcmServiceAccountConfig": json.RawMessage(fake.ServiceAccountJSON()),
		"secrets":                 secrets,
		"apns": map[string]string{"key": string(apnsKey), "keyId": "ABCDE12345", "teamId": "TEAM123456",
			"topic": "com.example.app", "environment": "sandbox"},
	})
	require.NoError(t, err)
	return string(b)
}

const dumpSecret = "axp-secret-4f1c9e0b7d2a6c35"

// TestConfigurationSurvivesRestart is the scenario of a configuration
// created through the admin API, a device registered under it and a
// restart, on each persistent backend; then a dump of the backend holds
// neither the AXP secret nor any part of a private key in clear.
func TestConfigurationSurvivesRestart(t *testing.T) {
	for name, newBackend := range map[string]func(*testing.T) backend{
		"sqlite": sqliteBackend, "postgres": postgresBackend, "redis": redisBackend,
	} {
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			fake := fcmtest.NewServer(fcmtest.Config{})
			defer fake.Close()
			apnsFake := apnstest.NewServer(apnstest.Config{})
			defer apnsFake.Close()
			args := stateFiles(t, be.dsn, fake)

			a := start(t, args...)
			status, body := a.admin(t, http.MethodPost, "/configs", configBody(t, fake, apnsFake.AuthKeyPEM(), "secret-two-0123456789", dumpSecret))
			require.Equal(t, http.StatusCreated, status, body)
			assert.NotContains(t, body, "PRIVATE KEY")
			var created struct{ ConfigID string }
			require.NoError(t, json.Unmarshal([]byte(body), &created))
			session, token := uuid.NewString(), "tok:APA91b"+strings.Repeat("r", 40)
			status, body = a.do(t, http.MethodPut, connector.BasePath+"/device-registrations/"+token,
				`{"configId":"`+created.ConfigID+`","sessionId":"`+session+`"}`)
			require.Equal(t, http.StatusOK, status, body)
			status, body = a.callback(t, session, "secret-two-0123456789")
			require.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, `"delivered":1`)
			a.stop(t)

			b := start(t, args...)
			status, body = b.admin(t, http.MethodGet, "/configs/"+created.ConfigID, "")
			require.Equal(t, http.StatusOK, status, "the configuration survives the restart: %s", body)
			assert.Contains(t, body, `"secretCount":2`)
			assert.Contains(t, body, `"key":"[redacted]"`)
			assert.NotContains(t, body, "PRIVATE KEY")
			status, body = b.callback(t, session, "secret-two-0123456789")
			require.Equal(t, http.StatusOK, status, "signed callbacks are still accepted: %s", body)
			assert.Contains(t, body, `"delivered":1`)
			assert.Len(t, fake.Messages(), 2)
			b.stop(t)

			assertNoSecretIn(t, be.dump(t), fake.ServiceAccountJSON(), apnsFake.AuthKeyPEM())
		})
	}
}

// assertNoSecretIn checks that dump holds neither dumpSecret nor any part
// of the service account's private key or the APNs key, raw or encoded.
func assertNoSecretIn(t *testing.T, dump, serviceAccount, apnsKey []byte) {
	t.Helper()
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	require.NoError(t, json.Unmarshal(serviceAccount, &sa))
	needles := []string{
		dumpSecret, base64.StdEncoding.EncodeToString([]byte(dumpSecret)), hex.EncodeToString([]byte(dumpSecret)),
		"PRIVATE KEY", base64.StdEncoding.EncodeToString([]byte("-----BEGIN")),
		base64.StdEncoding.EncodeToString(apnsKey), base64.StdEncoding.EncodeToString([]byte(sa.PrivateKey)),
	}
	for _, pemText := range []string{sa.PrivateKey, string(apnsKey)} {
		for _, line := range strings.Split(pemText, "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				needles = append(needles, line)
			}
		}
	}
	require.Greater(t, len(needles), 10)
	for _, n := range needles {
		assert.False(t, bytes.Contains(dump, []byte(n)), "the dump holds %q in clear", pushwireRedact(n))
	}
	assert.False(t, bytes.Contains(dump, []byte(`"secret-two-0123456789"`)), "nor the short secret")
}

func pushwireRedact(s string) string {
	if len(s) <= 6 {
		return s
	}
	return "…" + s[len(s)-6:]
}

// TestReplicasAgree runs two programs over one PostgreSQL or Redis: a
// configuration added, changed or deleted through A takes effect on B, and
// the delay is measured (reported with t.Logf; the test fails only beyond
// a generous bound, since timing on a loaded machine is not a result).
func TestReplicasAgree(t *testing.T) {
	for name, newBackend := range map[string]func(*testing.T) backend{
		"postgres": postgresBackend, "redis": redisBackend,
	} {
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			fake := fcmtest.NewServer(fcmtest.Config{})
			defer fake.Close()
			apnsFake := apnstest.NewServer(apnstest.Config{})
			defer apnsFake.Close()
			args := stateFiles(t, be.dsn, fake)
			a, b := start(t, args...), start(t, args...)

			// Added on A: B serves it.
			status, body := a.admin(t, http.MethodPost, "/configs", configBody(t, fake, apnsFake.AuthKeyPEM(), "secret-two-0123456789"))
			require.Equal(t, http.StatusCreated, status, body)
			added := time.Now()
			var created struct{ ConfigID string }
			require.NoError(t, json.Unmarshal([]byte(body), &created))
			id := created.ConfigID
			session, token := uuid.NewString(), "tok:APA91b"+strings.Repeat("q", 40)
			status, body = b.do(t, http.MethodPut, connector.BasePath+"/device-registrations/"+token,
				`{"configId":"`+id+`","sessionId":"`+session+`"}`)
			require.Equal(t, http.StatusOK, status, "B knows the configuration: %s", body)
			addDelay := time.Since(added)
			status, body = b.callback(t, session, "secret-two-0123456789")
			require.Equal(t, http.StatusOK, status, body) // B has it cached now

			// Changed on A: B accepts the new secret.
			status, body = a.admin(t, http.MethodPut, "/configs/"+id, `{"secrets":["secret-three-0123456789"]}`)
			require.Equal(t, http.StatusOK, status, body)
			changeDelay := waitFor(t, func() bool {
				status, _ := b.callback(t, session, "secret-three-0123456789")
				return status == http.StatusOK
			})
			status, _ = b.callback(t, session, "secret-two-0123456789")
			assert.Equal(t, http.StatusUnauthorized, status, "the old secret is gone on B")

			// Deleted on A: B answers 404.
			status, _ = a.admin(t, http.MethodDelete, "/configs/"+id, "")
			require.Equal(t, http.StatusNoContent, status)
			deleteDelay := waitFor(t, func() bool {
				status, _ := b.admin(t, http.MethodGet, "/configs/"+id, "")
				return status == http.StatusNotFound
			})
			t.Logf("%s: A→B propagation: added %v (B reads through), changed %v, deleted %v (each includes one HTTP round trip to B)",
				name, addDelay.Round(time.Microsecond), changeDelay.Round(time.Microsecond), deleteDelay.Round(time.Microsecond))
		})
	}
}

// waitFor polls ok until it holds and returns how long that took; it fails
// after 10 s, a bound far above the 1 s promised.
func waitFor(t *testing.T, ok func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	for !ok() {
		if time.Since(begin) > 10*time.Second {
			t.Fatal("B did not see the change within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(begin)
}

// TestStateKeyErrors: PostgreSQL and Redis need a key file; a key file
// others may read is refused; sqlite generates one beside the database.
func TestStateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	var out, errb testenv.SyncBuffer
	code := run(context.Background(), []string{"-registry", "postgres://u:pw@127.0.0.1:1/db"}, &out, &errb)
	assert.Equal(t, 2, code)
	assert.Contains(t, errb.String(), "-state-key-file (or PUSHWIRE_STATE_KEY_FILE) is required with -registry postgres://")
	assert.Contains(t, errb.String(), "-generate-state-key")
	assert.NotContains(t, errb.String(), "pw@")

	key := filepath.Join(dir, "state.key")
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", key}, &out, &errb))
	require.NoError(t, os.Chmod(key, 0o640))
	errb = testenv.SyncBuffer{}
	code = run(context.Background(), []string{"-registry", "redis://127.0.0.1:1/0", "-state-key-file", key}, &out, &errb)
	assert.Equal(t, 2, code)
	assert.Contains(t, errb.String(), "chmod 600")

	db := filepath.Join(dir, "reg.db")
	p := start(t, "-registry", "sqlite:"+db)
	p.stop(t)
	for _, p := range []string{db, db + ".key"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}
	assert.Contains(t, p.errb.String(), "generated a state key file beside the database")
	assert.Contains(t, p.errb.String(), db+".key")
}

// TestRotation appends a key, re-seals, drops the old key: the stored
// configuration is still served.
func TestRotation(t *testing.T) {
	fake := fcmtest.NewServer(fcmtest.Config{})
	defer fake.Close()
	apnsFake := apnstest.NewServer(apnstest.Config{})
	defer apnsFake.Close()
	be := sqliteBackend(t)
	key := filepath.Join(t.TempDir(), "state.key")
	var out, errb testenv.SyncBuffer
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", key}, &out, &errb), errb.String())
	args := append(stateFiles(t, be.dsn, fake), "-state-key-file", key)

	a := start(t, args...)
	status, body := a.admin(t, http.MethodPost, "/configs", configBody(t, fake, apnsFake.AuthKeyPEM(), "secret-two-0123456789"))
	require.Equal(t, http.StatusCreated, status, body)
	var created struct{ ConfigID string }
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	a.stop(t)

	out = testenv.SyncBuffer{}
	require.Equal(t, 0, run(context.Background(), []string{"-generate-state-key", key}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "appended a new state key")
	data, err := os.ReadFile(key)
	require.NoError(t, err)
	lines := regexp.MustCompile(`(?m)^[0-9a-f]{64}$`).FindAllString(string(data), -1)
	require.Len(t, lines, 2)

	out = testenv.SyncBuffer{}
	require.Equal(t, 0, run(context.Background(), append(args, "-reseal-state"), &out, &errb), errb.String())
	assert.Contains(t, out.String(), "re-sealed 1 configuration(s)")
	out = testenv.SyncBuffer{}
	require.Equal(t, 0, run(context.Background(), append(args, "-reseal-state"), &out, &errb), errb.String())
	assert.Contains(t, out.String(), "re-sealed 0 configuration(s)", "all under the new key already")

	require.NoError(t, os.WriteFile(key, []byte(lines[1]+"\n"), 0o600)) // the old key is gone
	b := start(t, args...)
	status, body = b.admin(t, http.MethodGet, "/configs/"+created.ConfigID, "")
	assert.Equal(t, http.StatusOK, status, body)
}
