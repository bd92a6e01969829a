package pipelines

// LeftOut are the filters fail2ban 1.0.2 ships that logjail deliberately
// does not, each with the reason (README "Filters" lists them).
var LeftOut = map[string]string{
	"apache-fakegooglebot": "it decides by resolving the client's address and name in DNS (fail2ban runs a script as ignorecommand); the attacker controls its reverse zone, and logjail never resolves names",
}
