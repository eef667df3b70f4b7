package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"
)

// toxi is Toxiproxy embedded in the lab supervisor: its proxy collection and its HTTP
// API (the same routes and JSON as the toxiproxy-server binary, so its client package
// and CLI work against State.Toxiproxy). The library's own ApiServer.Listen binds an
// address we would have to pick ahead, has no shutdown and exits the process on a
// listen error, so the supervisor mounts the library's handlers on a listener and a
// server of its own.
type toxi struct {
	api *toxiproxy.ApiServer
	srv *http.Server
	ln  net.Listener
	err chan error
}

// startToxi starts the API on a free loopback port. Toxiproxy logs (warnings and
// errors only: it logs every accepted connection at info) go to logw.
func startToxi(logw io.Writer) (*toxi, error) {
	logger := zerolog.New(logw).Level(zerolog.WarnLevel).With().Timestamp().Str("component", "toxiproxy").Logger()
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), logger)
	r := mux.NewRouter()
	r.HandleFunc("/reset", api.ResetState).Methods("POST")
	r.HandleFunc("/proxies", api.ProxyIndex).Methods("GET")
	r.HandleFunc("/proxies", api.ProxyCreate).Methods("POST")
	r.HandleFunc("/populate", api.Populate).Methods("POST")
	r.HandleFunc("/proxies/{proxy}", api.ProxyShow).Methods("GET")
	r.HandleFunc("/proxies/{proxy}", api.ProxyUpdate).Methods("POST")
	r.HandleFunc("/proxies/{proxy}", api.ProxyDelete).Methods("DELETE")
	r.HandleFunc("/proxies/{proxy}/toxics", api.ToxicIndex).Methods("GET")
	r.HandleFunc("/proxies/{proxy}/toxics", api.ToxicCreate).Methods("POST")
	r.HandleFunc("/proxies/{proxy}/toxics/{toxic}", api.ToxicShow).Methods("GET")
	r.HandleFunc("/proxies/{proxy}/toxics/{toxic}", api.ToxicUpdate).Methods("POST")
	r.HandleFunc("/proxies/{proxy}/toxics/{toxic}", api.ToxicDelete).Methods("DELETE")
	r.HandleFunc("/version", api.Version).Methods("GET")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab: toxiproxy API: %w", err)
	}
	t := &toxi{api: api, ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: http.TimeoutHandler(r, 25*time.Second, ""), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := t.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.err <- err
		}
		close(t.err)
	}()
	return t, nil
}

// addr is the API's host:port.
func (t *toxi) addr() string { return t.ln.Addr().String() }

// add creates and starts a proxy to upstream on a free loopback port and returns the
// address it listens on.
func (t *toxi) add(name, upstream string) (string, error) {
	p := toxiproxy.NewProxy(t.api, name, "127.0.0.1:0", upstream)
	if err := t.api.Collection.Add(p, true); err != nil {
		return "", fmt.Errorf("lab: proxy %s: %w", name, err)
	}
	return p.Listen, nil
}

// setUpstream points the proxy name at a new upstream (a process that had to move to
// another port), keeping its listen address and toxics.
func (t *toxi) setUpstream(name, upstream string) error {
	p, err := t.api.Collection.Get(name)
	if err != nil {
		return fmt.Errorf("lab: proxy %s: %w", name, err)
	}
	if err := p.Update(&toxiproxy.Proxy{Listen: p.Listen, Upstream: upstream, Enabled: true}); err != nil {
		return fmt.Errorf("lab: proxy %s: %w", name, err)
	}
	return nil
}

// close stops the API and every proxy (closing their connections).
func (t *toxi) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := t.srv.Shutdown(ctx)
	if err != nil {
		_ = t.srv.Close()
	}
	return errors.Join(err, <-t.err, t.api.Collection.Clear())
}
