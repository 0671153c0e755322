package tools

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"
)

// Why fetch_url needs a guard: the model chooses the URL, and a page (or
// a person in the chat) can ask it to fetch http://169.254.169.254/ or a
// router's admin page on the bot's own network. Every address a name
// resolves to is checked before connecting, and the connection goes to
// the checked address itself, so a name that resolves differently a
// second time (DNS rebinding) gains nothing; redirects connect through
// the same dialer and are checked again.

// Resolver looks up a host's addresses (net.DefaultResolver is one).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// blockedPrefixes are the ranges fetch_url refuses besides loopback,
// private, link-local, multicast and unspecified addresses.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("255.255.255.255/32"),
}

// privateAddr reports whether a is not a public unicast address.
func privateAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsValid() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	// IPv4 addresses embedded in NAT64 or 6to4 forms.
	if a.Is6() {
		b := a.As16()
		if netip.MustParsePrefix("64:ff9b::/96").Contains(a) {
			return privateAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
		if netip.MustParsePrefix("2002::/16").Contains(a) {
			return privateAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}

// guardedDialer connects only to public addresses, unless allowPrivate,
// and to the proxies the environment names.
type guardedDialer struct {
	resolver     Resolver
	allowPrivate bool
	private      func(netip.Addr) bool // privateAddr; tests treat a loopback address as public
	dialer       net.Dialer
	proxies      sync.Map // "host:port" of proxies in use → true
}

func (g *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if _, ok := g.proxies.Load(address); ok {
		return g.dialer.DialContext(ctx, network, address)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if addrs, err = g.resolver.LookupNetIP(ctx, ipNet, host); err != nil {
			return nil, fmt.Errorf("looking up %s: %w", host, err)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("looking up %s: no addresses", host)
	}
	if !g.allowPrivate {
		for _, a := range addrs {
			if g.private(a) {
				return nil, fmt.Errorf("%w: %s is a private, loopback or link-local address (%s); set [tools] allow_private = true to allow it", ErrRefused, host, a)
			}
		}
	}
	return g.dialAny(ctx, network, port, addrs)
}

// check refuses a host that resolves to a private address (for requests
// that go through a proxy, which resolves the name again itself).
func (g *guardedDialer) check(ctx context.Context, host string) error {
	if g.allowPrivate {
		return nil
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else if addrs, err = g.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return fmt.Errorf("looking up %s: %w", host, err)
	}
	for _, a := range addrs {
		if g.private(a) {
			return fmt.Errorf("%w: %s is a private, loopback or link-local address (%s); set [tools] allow_private = true to allow it", ErrRefused, host, a)
		}
	}
	return nil
}

func (g *guardedDialer) dialAny(ctx context.Context, network, port string, addrs []netip.Addr) (net.Conn, error) {
	var firstErr error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// guardedClient is an HTTP client whose every connection, redirects
// included, goes through the guard. It honours HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY: a request sent through a proxy has its host resolved and
// checked here first (the proxy resolves it again; a name that changes
// its answer in between is the proxy's policy to catch).
func guardedClient(resolver Resolver, allowPrivate bool, private func(netip.Addr) bool, timeout time.Duration, maxRedirects int) *http.Client {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if private == nil {
		private = privateAddr
	}
	d := &guardedDialer{resolver: resolver, allowPrivate: allowPrivate, private: private, dialer: net.Dialer{Timeout: 10 * time.Second}}
	tr := &http.Transport{
		Proxy: func(req *http.Request) (*url.URL, error) {
			u, err := http.ProxyFromEnvironment(req)
			if err != nil || u == nil {
				return u, err
			}
			if err := d.check(req.Context(), req.URL.Hostname()); err != nil {
				return nil, err
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443", "socks5": "1080"}[u.Scheme]
				if port == "" {
					port = "80"
				}
			}
			d.proxies.Store(net.JoinHostPort(u.Hostname(), port), true)
			return u, nil
		},
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRefused, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a %s URL", ErrRefused, req.URL.Scheme)
			}
			return nil
		},
	}
}
