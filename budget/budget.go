package budget

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"marketfleet/internal/config"
)

// DefaultReserve is the number of sessions kept free for applications other
// than the fleet (dashboards, APIs, psql), as in the set-up that ran out of
// connections: 100 max_connections, about 20 for everything else.
const DefaultReserve = 20

// DefaultFleetPrefix is the application_name prefix of every worker session.
const DefaultFleetPrefix = "marketfleet-worker/"

// Config is the operator's part of the arithmetic.
type Config struct {
	// Reserve is kept free for other applications, >= 0. 0 keeps nothing
	// back; the commands default it to DefaultReserve.
	Reserve int
	// Cap, when > 0, caps the budget; the computed value wins when it is
	// lower. 0 means no cap.
	Cap int
	// FleetPrefix is the application_name prefix of fleet sessions.
	// Defaults to DefaultFleetPrefix.
	FleetPrefix string
}

// WithDefaults returns c with zero fields set to their defaults (Reserve
// and Cap have none: 0 means none).
func (c Config) WithDefaults() Config {
	c.FleetPrefix = cmp.Or(c.FleetPrefix, DefaultFleetPrefix)
	return c
}

// Validate checks c; the error is a *config.FieldError wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Reserve < 0:
		return config.Invalid(ErrInvalidConfig, "Reserve", c.Reserve, "want >= 0")
	case c.Cap < 0:
		return config.Invalid(ErrInvalidConfig, "Cap", c.Cap, "want >= 0 (0: no cap)")
	}
	return nil
}

// App is the number of sessions one application holds.
type App struct {
	Name     string `json:"application_name"`
	Sessions int    `json:"sessions"`
}

// Budget is the connection math, every term kept so it can be shown.
type Budget struct {
	MaxConnections    int   `json:"max_connections"`
	SuperuserReserved int   `json:"superuser_reserved_connections"`
	RoleReserved      int   `json:"reserved_connections"`
	Reserve           int   `json:"reserve"`
	Others            int   `json:"other_sessions"`
	OtherApps         []App `json:"other_apps"`
	Fleet             int   `json:"fleet_sessions"`
	// Computed is the budget before the cap; it can be negative when the
	// server is already over-subscribed.
	Computed int `json:"computed"`
	// Cap is the configured cap, 0 for none.
	Cap int `json:"cap"`
	// Slots is the number of sessions the fleet may hold: min(Computed,
	// Cap), never below 0.
	Slots int `json:"slots"`
}

// Server is what the arithmetic needs from the live server (for a worker,
// read through its session with store.ServerLimits).
type Server struct {
	// MaxConnections is max_connections.
	MaxConnections int
	// SuperuserReserved is superuser_reserved_connections.
	SuperuserReserved int
	// RoleReserved is reserved_connections (PostgreSQL 16+; 0 before).
	RoleReserved int
	// Sessions counts the client sessions open now by application_name,
	// the fleet's own included.
	Sessions map[string]int
}

// Compute does the arithmetic described in the package documentation.
func Compute(l Server, cfg Config) Budget {
	prefix := cfg.FleetPrefix
	if prefix == "" {
		prefix = DefaultFleetPrefix
	}
	b := Budget{MaxConnections: l.MaxConnections, SuperuserReserved: l.SuperuserReserved,
		RoleReserved: l.RoleReserved, Reserve: max(cfg.Reserve, 0), Cap: max(cfg.Cap, 0)}
	for app, n := range l.Sessions {
		if strings.HasPrefix(app, prefix) {
			b.Fleet += n
			continue
		}
		b.Others += n
		b.OtherApps = append(b.OtherApps, App{Name: app, Sessions: n})
	}
	sort.Slice(b.OtherApps, func(i, j int) bool {
		a, c := b.OtherApps[i], b.OtherApps[j]
		return a.Sessions > c.Sessions || (a.Sessions == c.Sessions && a.Name < c.Name)
	})
	b.Computed = b.MaxConnections - b.SuperuserReserved - b.RoleReserved - b.Reserve - b.Others
	b.Slots = max(b.Computed, 0)
	if b.Cap > 0 {
		b.Slots = min(b.Slots, b.Cap)
	}
	return b
}

// Arithmetic is the computation as one line, for logs and reports:
// "max_connections 100 - reserved 3 - reserve 20 - other sessions 80 = -3
// (budget 0)", with the cap when there is one.
func (b Budget) Arithmetic() string {
	s := fmt.Sprintf("max_connections %d - reserved %d - reserve %d - other sessions %d = %d",
		b.MaxConnections, b.SuperuserReserved+b.RoleReserved, b.Reserve, b.Others, b.Computed)
	if b.Cap > 0 {
		s += fmt.Sprintf(", cap %d", b.Cap)
	}
	return s + fmt.Sprintf(" (budget %d)", b.Slots)
}
