package sealsend

// For the external tests that compare sizes with package lpns, which
// imports this package (an internal test importing lpns would be a cycle).
var (
	LPNSSize  = lpnsSize
	SizeCases = sizeCases
)
