// Package notify delivers lensflow's clinic notifications: signed webhooks
// (Standard Webhooks) and plain-text email over SMTP.
//
// Notifications are thin by construction. A Notification carries an event
// type, opaque ids, a status word and an API path; there is no field that can
// hold a name, a birth date, a note or any other free text, and Validate
// rejects values that are not id-, enum- or path-shaped. The clinic fetches
// details through the authenticated API, so every read of PHI is audited.
//
// # Webhooks
//
// A webhook is an HTTPS POST of a JSON body (see Payload) with three headers,
// following https://www.standardwebhooks.com:
//
//	webhook-id:        the notification id, the same on every retry (dedupe on it)
//	webhook-timestamp: the attempt time in unix seconds
//	webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
//
// The HMAC key is the base64 part of the clinic's secret "whsec_<base64>"
// (NewSecret). During a secret rotation the header may carry several
// space-separated signatures; a receiver accepts the message if any v1
// signature matches. Clinics verify with Verify (or any Standard Webhooks
// library): recompute the signature over the raw body bytes, compare in
// constant time, and refuse timestamps more than five minutes from their
// clock to stop replays.
//
// Sender delivers one attempt and classifies the outcome; the caller (a
// Pub/Sub-driven function that stores attempts) asks NextAttempt when to try
// again. Destinations are SSRF-checked twice: ValidateEndpoint when the clinic
// registers a URL, and again on every attempt and every connection, against
// the address the name actually resolved to (so DNS rebinding cannot reach
// internal hosts). The service's own addresses (SenderOptions.Self) are
// refused both ways too, even where tests allow loopback, so a webhook can
// never be a request from the service to itself.
//
// A delivery sends exactly the headers listed above plus Content-Type,
// User-Agent and what net/http adds (Host, Content-Length,
// Accept-Encoding); nothing in the URL can add one (user info is refused).
//
// # Email
//
// Mailer sends a Message; SMTPMailer speaks SMTP with net/smtp (STARTTLS when
// offered, optional auth). Locally, package smtpsink runs an embedded SMTP
// server that writes each message as an .eml file into the data directory.
// RenderEmail turns a Notification into a Message with what happened and a
// link, never patient details. ValidateEmail is the rule for addresses a
// clinic gives: plain, within the RFC 5321 lengths, at a public domain name.
package delivery
