package lpnsredis_test

import (
	"context"
	"crypto"
	"log"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pushwire/pushwire/lpns"
	"github.com/pushwire/pushwire/lpns/lpnsredis"
)

// publicKey verifies device tokens (loaded from a file in a real program).
var publicKey crypto.PublicKey

// Every node of a cluster runs the same code with its own NodeID; a device
// connected to any node can be reached from every node.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	cluster, err := lpnsredis.New(lpnsredis.Config{Client: rdb, Prefix: "lpns:"})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := lpns.NewJWTAuthenticator(lpns.JWTConfig{
		KeyFunc: func(*jwt.Token) (any, error) { return publicKey, nil },
		Methods: []string{"ES256"},
		Issuer:  "cucm.example.internal",
	})
	if err != nil {
		log.Fatal(err)
	}
	// NewServer subscribes to this node's channel within ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := lpns.NewServer(ctx, lpns.Config{Authenticator: auth, NodeID: "cucm-a", Cluster: cluster})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	hs := &http.Server{Addr: ":9560", Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.ListenAndServeTLS("cert.pem", "key.pem"))
}
