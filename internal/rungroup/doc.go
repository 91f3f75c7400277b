// Package rungroup runs a process's actors together, the way
// github.com/oklog/run does with contexts: when one actor returns, every
// other is stopped (its context is cancelled), and the result says which
// stopped and why.
package rungroup
