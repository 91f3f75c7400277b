// Package calendar knows when the New York Stock Exchange trades: regular
// sessions 09:30-16:00 America/New_York on weekdays, no session on weekends
// and exchange holidays, and a 13:00 (or other listed) close on early-close
// days. The market-data scheduler asks it whether NYSE is open at an instant,
// when the next session opens or closes, which sessions lie between two
// dates, and which session an end-of-day run should collect.
//
// # Data
//
// Holidays and early closes are not computed: they are read from the embedded
// file nyse_sessions.txt, a transcription of the NYSE's published calendar
// whose header names its source and the date it was last checked. The file
// declares the years it lists completely ("covers 2000 2027"). The calendar
// never guesses outside them: every method that would need a day of another
// year returns an error wrapping ErrNotCovered that names the year and the
// file to update. The tests cross-check the file against the rules the NYSE
// follows (observed federal holidays plus Good Friday, customary early
// closes), so a typo or a missing holiday fails `go test ./calendar/`.
//
// # Dates and instants
//
// Two kinds of time.Time cross this API and they are not interchangeable:
//
//   - An instant (t) is a point in time; its location does not matter.
//     IsOpen, NextOpen, NextClose and LastSession take instants, and
//     Session.Open and Session.Close are instants, returned in UTC.
//   - A date is a calendar day, read from the value's own Year, Month and Day
//     and ignoring its clock and location. SessionOn and Sessions take dates,
//     and Session.Date is one, at 00:00 UTC. Use NYSE.DateOf to turn an
//     instant into its New York calendar date.
//
// # Contract
//
// An NYSE is immutable after NewNYSE and safe for concurrent use. It does no
// I/O beyond loading the America/New_York time zone once, never logs and
// depends on the standard library only.
package calendar
