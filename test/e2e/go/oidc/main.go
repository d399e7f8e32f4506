// Command oidc is the e2e environment's OAuth 2.0 / OIDC token server: just
// enough of an identity provider for Kafka's SASL/OAUTHBEARER with
// librdkafka's sasl.oauthbearer.method=oidc. Standard library only; it
// listens on 127.0.0.1 only.
//
//	GET  /jwks   (also /.well-known/jwks.json)  the RSA public key as a JWKS,
//	             fetched by the broker's OAuthBearerValidatorCallbackHandler
//	POST /token  client-credentials grant: client_id/client_secret by HTTP
//	             basic auth or in the form; grant_type=client_credentials;
//	             scope optional. Issues an RS256 JWT with iss, sub (the
//	             client id), aud, iat, nbf, exp, scope, jti and kid.
//	GET  /stats  {"issued": N, "rejected": N, "byScope": {SCOPE: N},
//	             "lastByScope": {SCOPE: UNIXTIME}, "issuedAt": [UNIXTIME...]}
//	             (SCOPE is the requested scope, "" for none)
//	GET  /healthz "ok"
//	GET  /.well-known/openid-configuration
//
// The signing key is read from -key (PEM, PKCS#1 or PKCS#8) or generated
// there if the file does not exist, so the broker and this server agree on
// the key across restarts. Secrets are never logged.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Set by the env's go build (-X main.sourceHash=...), so that a change of
// this file rebuilds the binary; shown by /healthz?v.
var sourceHash = "dev"

type server struct {
	key          *rsa.PrivateKey
	kid          string
	issuer       string
	audience     string
	clientID     string
	clientSecret string
	lifetime     time.Duration

	mu       sync.Mutex
	issued   int
	rejected int
	byScope  map[string]int
	lastBy   map[string]int64 // scope -> unix time of its last token
	issuedAt []int64
}

func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		log.Printf("generated a new RSA signing key in %s", path)
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key", path)
	}
	return rk, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *server) jwks() map[string]any {
	pub := &s.key.PublicKey
	return map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.kid,
		"n": b64(pub.N.Bytes()),
		"e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

func (s *server) sign(claims map[string]any) (string, error) {
	h, err := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": s.kid})
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) reject(w http.ResponseWriter, code int, errcode, why string) {
	s.mu.Lock()
	s.rejected++
	s.mu.Unlock()
	log.Printf("token request rejected: %s (%s)", errcode, why)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="lagscale-e2e"`)
	}
	writeJSON(w, code, map[string]string{"error": errcode, "error_description": why})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.reject(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.reject(w, http.StatusBadRequest, "invalid_request", "bad form body")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		s.reject(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q", gt))
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		s.reject(w, http.StatusUnauthorized, "invalid_client", "no client credentials")
		return
	}
	if !equal(id, s.clientID) || !equal(secret, s.clientSecret) {
		s.reject(w, http.StatusUnauthorized, "invalid_client", fmt.Sprintf("bad credentials for client %q", id))
		return
	}
	scope := strings.Join(strings.Fields(r.PostForm.Get("scope")), " ")
	now := time.Now()
	exp := now.Add(s.lifetime)
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	claims := map[string]any{
		"iss": s.issuer, "sub": id, "aud": s.audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"jti": hex.EncodeToString(jti), "client_id": id,
	}
	if scope != "" {
		claims["scope"] = scope
	}
	tok, err := s.sign(claims)
	if err != nil {
		log.Printf("signing failed: %v", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	s.mu.Lock()
	s.issued++
	s.byScope[scope]++
	s.lastBy[scope] = now.Unix()
	if len(s.issuedAt) < 10000 {
		s.issuedAt = append(s.issuedAt, now.Unix())
	}
	n := s.issued
	s.mu.Unlock()
	log.Printf("token %d issued to %q, scope %q, expires %s", n, id, scope, exp.UTC().Format(time.RFC3339))
	resp := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.lifetime / time.Second)}
	if scope != "" {
		resp["scope"] = scope
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := make(map[string]int, len(s.byScope))
	for k, v := range s.byScope {
		by[k] = v
	}
	last := make(map[string]int64, len(s.lastBy))
	for k, v := range s.lastBy {
		last[k] = v
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issued": s.issued, "rejected": s.rejected, "byScope": by, "lastByScope": last,
		"issuedAt": append([]int64(nil), s.issuedAt...), "lifetimeSeconds": int(s.lifetime / time.Second),
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:39097", "address to listen on (127.0.0.1 only)")
	keyPath := flag.String("key", "", "PEM RSA private key; generated if missing")
	issuer := flag.String("issuer", "", "iss claim (default http://LISTEN)")
	audience := flag.String("audience", "kafka", "aud claim")
	clientID := flag.String("client-id", "lagscale", "the one accepted client id")
	secretFile := flag.String("client-secret-file", "", "file holding the client secret")
	lifetime := flag.Duration("lifetime", 60*time.Second, "token lifetime")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("oidc: ")

	host, _, err := net.SplitHostPort(*listen)
	if err != nil || host != "127.0.0.1" {
		log.Fatalf("-listen must be 127.0.0.1:PORT, got %q", *listen)
	}
	if *keyPath == "" || *secretFile == "" {
		log.Fatal("-key and -client-secret-file are required")
	}
	if *lifetime < time.Second {
		log.Fatal("-lifetime must be at least 1s")
	}
	sec, err := os.ReadFile(*secretFile)
	if err != nil {
		log.Fatalf("client secret: %v", err)
	}
	key, err := loadOrCreateKey(*keyPath)
	if err != nil {
		log.Fatalf("signing key: %v", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		log.Fatal(err)
	}
	sum := sha256.Sum256(der)
	s := &server{
		key: key, kid: hex.EncodeToString(sum[:8]), issuer: *issuer, audience: *audience,
		clientID: *clientID, clientSecret: strings.TrimSpace(string(sec)), lifetime: *lifetime,
		byScope: map[string]int{}, lastBy: map[string]int64{},
	}
	if s.issuer == "" {
		s.issuer = "http://" + *listen
	}
	if s.clientSecret == "" {
		log.Fatal("empty client secret")
	}

	mux := http.NewServeMux()
	jwks := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.jwks()) }
	mux.HandleFunc("/jwks", jwks)
	mux.HandleFunc("/.well-known/jwks.json", jwks)
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/stats", s.stats)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("v") {
			fmt.Fprintf(w, "ok %s\n", sourceHash)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": s.issuer, "jwks_uri": s.issuer + "/jwks", "token_endpoint": s.issuer + "/token",
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		<-ch
		_ = srv.Close()
	}()
	log.Printf("listening on http://%s (issuer %s, audience %q, kid %s, token lifetime %s)",
		*listen, s.issuer, s.audience, s.kid, s.lifetime)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
