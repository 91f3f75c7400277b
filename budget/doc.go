// Package budget computes how many PostgreSQL sessions the worker fleet may
// hold, from the live server's limits and the sessions other applications
// hold:
//
//	slots = max_connections
//	      − superuser_reserved_connections   (only superusers may use them)
//	      − reserved_connections             (PostgreSQL 16+, privileged roles)
//	      − Reserve                          (headroom for everything else; default 20)
//	      − sessions held now by other applications
//
// capped by Cap (FLEET_MAX_SESSIONS) when that is lower, and never below 0.
// Reserve is headroom on top of what other applications hold now: a
// dashboard that opens 10 more sessions during a market open must still find
// them free. Fleet sessions (application_name starting with FleetPrefix)
// are not subtracted: they are what the budget is for.
//
// The package is pure arithmetic over its own input type, Server: the
// numbers come from the live server (a worker reads them with
// store.ServerLimits), and the result is enforced by package slots.
package budget
