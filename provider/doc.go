// Package provider produces and checks the authorization of an Avaya Aura
// Session Manager at the Avaya push notification provider: what Session
// Manager's "Generate Keys" button does, and what the cloud side checks.
//
// [Generate] creates an identity: an ES256 (ECDSA P-256) key pair and a
// system id, a random UUID followed by a dot and the company domain. The
// identity's [Authorization] is the "Key to Export" JSON
//
//	{
//		"systemId": "9bf8f4ab-99b1-452b-9b7f-e75aacf31d19.mycompany.com",
//		"publicKey": "-----BEGIN PUBLIC KEY-----\nMFkw…\n-----END PUBLIC KEY-----",
//		"alg": "ES256",
//		"description": "Avaya Aura Session Manager"
//	}
//
// which [Authorization.JSON] emits as valid JSON. [ParseAuthorization] reads
// it strictly and reports errors with their line and column;
// [ParseAuthorizationLenient] also accepts the two mistakes of the example in
// Avaya's manual (a missing comma between members and a trailing comma), as
// administrators paste that example.
//
// [SaveKey] and [LoadKey] keep the private key in a PKCS#8 PEM file of mode
// 0600 that is never overwritten silently.
//
// How Session Manager authenticates to the provider is not public. This
// package's tokens are compact ES256 JWTs whose iss is the system id, with
// iat, exp, an optional aud and kid, and optional extra claims: a [Signer]
// issues them, a [Verifier] built from a parsed Authorization checks them.
//
// The package depends on the standard library, github.com/golang-jwt/jwt/v5
// and github.com/google/uuid.
package provider
