// The e2e OIDC token server (see main.go): standard library only, no
// requirements, so no go.sum.
module lagscale.test/e2e/oidc

go 1.26
