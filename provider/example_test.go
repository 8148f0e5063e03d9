package provider_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pushwire/pushwire/provider"
)

// Generate keys as Session Manager does, save the private key and export the
// authorization JSON.
func ExampleGenerate() {
	id, err := provider.Generate(provider.GenerateConfig{Domain: "MyCompany.com"})
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "keygen")
	defer os.RemoveAll(dir)
	if err := provider.SaveKey(filepath.Join(dir, "provider-key.pem"), id.Key, false); err != nil {
		panic(err)
	}
	auth, err := id.Authorization()
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(auth.JSON()[:2]) // the JSON begins with "{\n"
	fmt.Println(strings.HasSuffix(auth.SystemID, ".mycompany.com"), auth.Alg, auth.Description)
	// Output:
	// {
	// true ES256 Avaya Aura Session Manager
}

// The example of Avaya's manual lacks a comma and has a trailing one: only
// the lenient parser accepts it.
func ExampleParseAuthorizationLenient() {
	pasted := []byte(`{
	"systemId": "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com",
	"publicKey": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9rtz4fuYhGm2JlvnI6lZmate8eEX\na4wvmklSdHGYZHos7y8xNBNCEj9wc3klayOKHYIVIeL0ryVFgM16Ud5FDQ==\n-----END PUBLIC KEY-----",
	"alg": "ES256"
	"description": "Avaya Aura Session Manager",
}`)
	_, err := provider.ParseAuthorization(pasted)
	fmt.Println(err)
	auth, err := provider.ParseAuthorizationLenient(pasted)
	fmt.Println(auth.SystemID, err)
	// Output:
	// provider: invalid authorization: line 5 column 2: expected ',' or '}' after member "alg", found '"' (missing comma?)
	// 9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com <nil>
}

// A system signs a token; the provider verifies it against the exported
// authorization.
func ExampleVerifier() {
	id, _ := provider.Generate(provider.GenerateConfig{Domain: "mycompany.com"})
	signer, _ := id.Signer(provider.SignerConfig{TTL: time.Minute, Audience: []string{"push.example"}})
	token, _ := signer.Sign(map[string]any{"sub": "session-manager-1"})

	auth, _ := id.Authorization()
	exported, _ := provider.ParseAuthorization(auth.JSON())
	verifier, err := provider.NewVerifier(provider.VerifierConfig{Authorization: exported, Audience: "push.example"})
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(token)
	fmt.Println(err, claims.Issuer == id.SystemID, claims.All["sub"], claims.ExpiresAt.Sub(claims.IssuedAt))
	// Output: <nil> true session-manager-1 1m0s
}
