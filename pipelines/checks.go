package pipelines

import "errors"

// The checks below are Load's own, exported for the fail2ban importer,
// which writes only what Load will accept.

const (
	// MaxPorts is the most ports one nftables enforcer may list.
	MaxPorts = maxPorts
	// MaxRetryLimit is the largest maxretry.
	MaxRetryLimit = maxMaxRetry
)

// ValidPipelineName reports whether name may name a pipeline.
func ValidPipelineName(name string) bool { return pipelineName.MatchString(name) }

// CheckIncrement checks a bantime_increment as Load does; the error joins
// every problem.
func CheckIncrement(inc IncrementSpec) error {
	v := validator{decoder: &decoder{}}
	v.increment("bantime_increment", &inc)
	return errors.Join(v.errs...)
}

// CheckAddress checks an ignoreip address or CIDR (not a host name).
func CheckAddress(s string) error {
	_, err := parsePrefix(s)
	return err
}

// CheckIgnoreCommand checks an ignorecommand as Load does.
func CheckIgnoreCommand(cmd string) error {
	_, err := ignoreArgv(cmd)
	return err
}

// HostResolves reports whether name is a host name that resolves on this
// host, as Load requires of one in ignoreip.
func HostResolves(name string) bool {
	if !isHostName(name) {
		return false
	}
	addrs, err := lookupHost(name)
	return err == nil && len(addrs) > 0
}
