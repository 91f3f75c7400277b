package calendar

import "errors"

// ErrNotCovered is wrapped by every error about a date whose year the session
// data file does not list. The error names the missing year and the file to
// update; the calendar never guesses the sessions of such a year.
var ErrNotCovered = errors.New("date not covered by the NYSE calendar")

// ErrInvalidData is wrapped by every error that rejects the session data
// file. The error gives the line number and what is wrong with the line.
var ErrInvalidData = errors.New("invalid session data")
