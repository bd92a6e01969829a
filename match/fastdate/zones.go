package fastdate

import "strings"

// ZoneAbbrev returns the UTC offset, in minutes east, of a time zone
// abbreviation as fail2ban reads one ("PDT" -7 h, "CEST" +2 h; the
// single-letter military zones too), and whether it is known. An
// abbreviation names a fixed offset: CET is always +1 h, CEST +2 h; where
// one is ambiguous (CST, IST) the table holds fail2ban's choice, since
// fail2ban's reading is the contract of a shipped filter.
// match/fail2ban/datedetector reads its zones from this table too.
func ZoneAbbrev(name string) (int, bool) {
	m, ok := zoneAbbrev[name]
	return m, ok
}

var zoneAbbrev = func() map[string]int {
	m := map[string]int{}
	for _, l := range []struct {
		hours float64
		names string
	}{
		{-12, "Y"},
		{-11, "X NUT SST"},
		{-10, "W CKT HAST HST TAHT TKT"},
		{-9.5, "MART MIT"},
		{-9, "V AKST GAMT GIT HADT HNY"},
		{-8, "U AKDT CIST HAY HNP PST PT"},
		{-7, "T HAP HNR MST PDT"},
		{-6, "S CST EAST GALT HAR HNC MDT"},
		{-5, "R CDT COT EASST ECT EST ET HAC HNE PET"},
		{-4.5, "HLV VET"},
		{-4, "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT"},
		{-3.5, "HNT NST NT"},
		{-3, "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT"},
		{-2.5, "HAT NDT"},
		{-2, "O BRST FNT PMDT UYST WGST"},
		{-1, "N AZOT CVT EGT"},
		{0, "Z EGST GMT UTC WET WT"},
		{1, "A CET DFT WAT WEDT WEST"},
		{2, "B CAT CEDT CEST EET SAST WAST"},
		{3, "C EAT EEDT EEST IDT MSK"},
		{3.5, "IRST"},
		{4, "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT"},
		{4.5, "AFT IRDT"},
		{5, "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT"},
		{5.5, "SLT"},
		{5.75, "NPT"},
		{6, "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST"},
		{6.5, "CCT MMT"},
		{7, "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB"},
		{8, "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST"},
		{9, "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT"},
		{9.5, "ACST"},
		{10, "K AEST ChST PGT VLAT YAKST YAPT"},
		{10.5, "ACDT LHST"},
		{11, "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT"},
		{11.5, "NFT"},
		{12, "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT"},
		{13, "FJST NZDT"},
	} {
		for _, n := range strings.Fields(l.names) {
			m[n] = int(l.hours * 60)
		}
	}
	return m
}()

// zoneBefore reads a zone written before a date starting at i, as Monit
// writes "[PDT Apr 16 21:05:29]" or "[+03 Apr 16 21:05:29]", then one
// blank: 3 to 5 capitals of the table starting at a word boundary, or a
// numeric offset (±hh, ±hhmm, ±hh:mm) after a blank or a punctuation mark.
// It returns the start of the zone, or -1 (the zone is then left as it
// was).
func zoneBefore(s string, i int, fl *fields) int {
	if i < 4 || s[i-1] != ' ' {
		return -1
	}
	if isDigit(s[i-2]) {
		z := i - 2
		for z > 0 && i-1-z < 6 && (isDigit(s[z-1]) || s[z-1] == ':') {
			z--
		}
		if z == 0 || (s[z-1] != '+' && s[z-1] != '-') || (z > 1 && class[s[z-2]]&cAlnum != 0) {
			return -1
		}
		var zf fields
		if parseOffset(s, z-1, true, &zf) != i-1 {
			return -1
		}
		fl.zone, fl.off = zf.zone, zf.off
		return z - 1
	}
	if class[s[i-2]]&cUpper == 0 {
		return -1
	}
	z := i - 2
	for z > 0 && i-1-z < 6 && class[s[z-1]]&cUpper != 0 {
		z--
	}
	if n := i - 1 - z; n < 3 || n > 5 || (z > 0 && class[s[z-1]]&cAlnum != 0) {
		return -1
	}
	m, ok := zoneAbbrev[s[z:i-1]]
	if !ok {
		return -1
	}
	fl.setZone(m * 60)
	return z
}

// setZone sets a zone of off seconds east of UTC.
func (fl *fields) setZone(off int) {
	if off == 0 {
		fl.zone = zoneUTC
	} else {
		fl.zone, fl.off = zoneFixed, off
	}
}
