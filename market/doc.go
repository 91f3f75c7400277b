// Package market holds the domain vocabulary shared by every other package:
// a price Bar, the bar Interval enum and the Symbol syntax.
//
// It has no I/O and no dependencies beyond the standard library. Sources produce
// Bars, the store writes them, and tasks carry Intervals and Symbols; all of them
// agree on these definitions so that a value validated once is valid everywhere.
package market
