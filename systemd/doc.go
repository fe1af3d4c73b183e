// Package systemd holds the unit files.
package systemd
