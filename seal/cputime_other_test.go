//go:build !unix

package seal_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
