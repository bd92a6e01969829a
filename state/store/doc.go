// Package store keeps the state stage's records in bbolt so they survive a
// restart: active bans and their history, failure windows, totals and
// remembered lines, source positions and the NATS outbox; with the check,
// salvage, export and import of the file. The decisions themselves are
// package state's; a Store is their History.
package store
