package pyre

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Complements of Python's Unicode \w and \s, written as RE2 class ranges,
// for \W and \S inside a class (RE2 cannot negate part of a class).
var (
	wordSet  = [][][2]rune{tableRanges(unicode.L, unicode.N), {{'_', '_'}}}
	spaceSet = [][][2]rune{tableRanges(unicode.Z), {{'\t', '\r'}, {0x1c, 0x1f}, {' ', ' '}, {0x85, 0x85}}}

	notWordRanges     = complementRanges(writeRange, wordSet...)
	notSpaceRanges    = complementRanges(writeRange, spaceSet...)
	notWordRangesNet  = complementRanges(writeRangeNet, wordSet...)
	notSpaceRangesNet = complementRanges(writeRangeNet, spaceSet...)
)

func tableRanges(tables ...*unicode.RangeTable) [][2]rune {
	var out [][2]rune
	for _, t := range tables {
		for _, r := range t.R16 {
			for lo := rune(r.Lo); lo <= rune(r.Hi); lo += rune(r.Stride) {
				if r.Stride == 1 {
					out = append(out, [2]rune{lo, rune(r.Hi)})
					break
				}
				out = append(out, [2]rune{lo, lo})
			}
		}
		for _, r := range t.R32 {
			for lo := rune(r.Lo); lo <= rune(r.Hi); lo += rune(r.Stride) {
				if r.Stride == 1 {
					out = append(out, [2]rune{lo, rune(r.Hi)})
					break
				}
				out = append(out, [2]rune{lo, lo})
			}
		}
	}
	return out
}

// complementRanges returns the class text (written by write) of every
// rune not in the given ranges.
func complementRanges(write func(*strings.Builder, rune, rune), sets ...[][2]rune) string {
	var all [][2]rune
	for _, s := range sets {
		all = append(all, s...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i][0] < all[j][0] })
	var b strings.Builder
	next := rune(0)
	for _, r := range all {
		if r[0] > next {
			write(&b, next, r[0]-1)
		}
		if r[1]+1 > next {
			next = r[1] + 1
		}
	}
	if next <= unicode.MaxRune {
		write(&b, next, unicode.MaxRune)
	}
	return b.String()
}

func writeRange(b *strings.Builder, lo, hi rune) {
	fmt.Fprintf(b, `\x{%X}`, lo)
	if hi > lo {
		fmt.Fprintf(b, `-\x{%X}`, hi)
	}
}

// writeRangeNet writes a range for regexp2 (.NET syntax: \uHHHH for the
// basic plane, the character itself beyond).
func writeRangeNet(b *strings.Builder, lo, hi rune) {
	one := func(r rune) {
		if r <= 0xFFFF {
			fmt.Fprintf(b, `\u%04X`, r)
		} else {
			b.WriteRune(r)
		}
	}
	one(lo)
	if hi > lo {
		b.WriteByte('-')
		one(hi)
	}
}
