// Package aftercare is the pure domain of wearing a lens: the follow-up
// visit schedule of each lens type, the assessment a practitioner records
// at a visit, and the rules that turn an assessment with an "adjust"
// outcome into changes to the lens design.
//
// Everything here follows lens-design.md ("Aftercare") and, like the lens
// nomograms, every clinical convention lives in a named, versioned value
// that a lab can replace: Schedules (default "lensflow-aftercare-*"
// 2026.1) and Rules (default "lensflow-adjust" 2026.1).
//
// Dates are calendar dates in UTC. A visit falls due at 00:00 UTC on its
// date, counted from the UTC date of dispatch; months and years are added
// with the day clamped to the end of a shorter month (31 January + 1 month
// is 28 or 29 February, 29 February + 1 year is 28 February), and every
// visit is counted from the dispatch date, not from the visit before, so
// clamping never drifts.
//
// PHI: an Assessment is clinical data about a patient. Its values never go
// into logs, events, notifications or error messages: errors from this
// package name the field and the allowed range, never the value given, and
// the fluorescein notes are never repeated anywhere. The reasons in an
// Adjustment quote measurements; they belong with the design version they
// produced, not in a log line.
//
// The package is pure: no I/O beyond decoding configuration from a reader,
// no logging, no clock (callers pass asOf), no global state.
package aftercare
