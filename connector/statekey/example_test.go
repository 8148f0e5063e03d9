package statekey_test

import (
	"fmt"
	"strings"

	"github.com/pushwire/pushwire/connector/statekey"
)

func Example() {
	// A key file holds one key per line; the last one seals.
	kr, err := statekey.Parse([]byte(strings.Repeat("07", 32) + "\n"))
	if err != nil {
		panic(err)
	}
	sealed, _ := kr.Seal([]byte("axp secret"), []byte("config-1"))
	plain, _ := kr.Open(sealed, []byte("config-1"))
	fmt.Println(string(plain), kr.Current(sealed))
	// Output: axp secret true
}
