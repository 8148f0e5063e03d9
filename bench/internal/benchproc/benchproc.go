// Package benchproc holds what the peer benchmarks measure about their own
// process (CPU time, write system calls) and builds the example fakes they
// run as separate processes.
package benchproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CPUTime returns the user plus system CPU time this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WriteSyscalls returns the write system calls this process made so far
// (syscw in /proc/self/io), or -1 where that is not available.
func WriteSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// Example is a command under examples/ (the examples module), built once
// per test binary.
type Example struct {
	Name string // the directory under examples/, e.g. "apnsfake"
	Env  string // a variable naming a ready binary, used instead of building

	once sync.Once
	path string
	dir  string
	err  error
}

// Path builds the example on first use (the test runs in bench/<pkg>, two
// levels below the repository's root; the examples are a module of their
// own, built in its folder) and returns the binary's path.
func (e *Example) Path() (string, error) {
	e.once.Do(func() {
		if p := os.Getenv(e.Env); p != "" {
			e.path = p
			return
		}
		e.dir, e.err = os.MkdirTemp("", e.Name+"-bin-")
		if e.err != nil {
			return
		}
		e.path = filepath.Join(e.dir, e.Name)
		cmd := exec.Command("go", "build", "-o", e.path, "./"+e.Name)
		cmd.Dir = filepath.Join("..", "..", "examples")
		if out, err := cmd.CombinedOutput(); err != nil {
			e.err = fmt.Errorf("build %s: %v\n%s", e.Name, err, out)
		}
	})
	return e.path, e.err
}

// Remove deletes a binary that Path built.
func (e *Example) Remove() {
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}
