//go:build !unix

package sealsend_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
