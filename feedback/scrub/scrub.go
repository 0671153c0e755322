// Package scrub replaces personal data in chat text with placeholders
// before it leaves the machine as training data: e-mail addresses, phone
// numbers (mainland Chinese mobiles and international numbers written
// with +), mainland resident identity card numbers (checksum verified),
// bank card numbers (Luhn verified), IP addresses, secret-looking URL query
// values, and @-mentioned names.
//
// A Scrubber gives the same value the same placeholder until Reset, so a
// name mentioned in a prompt and in both answers of a pair stays one
// person (<EMAIL_1>, @[USER_2]), and it counts what it replaced.
//
// Its guarantees, checked by a fuzz target: text without a match comes
// back unchanged, and scrubbed text has no match left.
package scrub

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is a kind of personal data.
type Kind string

// The kinds, in the order they are looked for: where two overlap, the
// earlier wins.
const (
	Email    Kind = "email"
	URLToken Kind = "url_token"
	IDCard   Kind = "id_card"
	BankCard Kind = "bank_card"
	Phone    Kind = "phone"
	IP       Kind = "ip"
	Mention  Kind = "mention"
)

// Kinds lists every kind, in priority order.
var Kinds = []Kind{Email, URLToken, IDCard, BankCard, Phone, IP, Mention}

// detector finds one kind: a pattern and an optional check of each match.
type detector struct {
	kind  Kind
	re    *regexp.Regexp
	group int // the submatch to replace; 0: the whole match
	// digits requires that no digit touches the match on either side.
	digits bool
	// wordy requires that no letter or digit touches the match on either
	// side.
	wordy bool
	valid func(s string) bool
}

var detectors = []detector{
	{kind: Email, re: regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`), wordy: true},
	// A query value under a secret-looking key: ?token=…, &api_key=…
	{kind: URLToken, re: regexp.MustCompile(`(?i)[?&](?:[a-z_\-]*(?:token|key|secret|sig|signature|auth|password|passwd|pwd|session|sid|code|ticket|credential)[a-z_\-]*)=([^&#\s\[][^&#\s]*)`), group: 1},
	{kind: IDCard, re: regexp.MustCompile(`[1-9]\d{16}[\dXx]`), digits: true, valid: validIDCard},
	{kind: BankCard, re: regexp.MustCompile(`\d{4}(?:[ \-]?\d{4}){2,3}(?:[ \-]?\d{1,3})?`), digits: true, valid: validCard},
	{kind: Phone, re: regexp.MustCompile(`(?:\+86[ \-]?)?1[3-9]\d[ \-]?\d{4}[ \-]?\d{4}`), digits: true},
	{kind: Phone, re: regexp.MustCompile(`\+\d{1,3}(?:[ \-]?\(?\d{1,4}\)?)(?:[ \-]?\d{2,5}){1,4}`), digits: true, valid: validIntl},
	{kind: IP, re: regexp.MustCompile(`\d{1,3}(?:\.\d{1,3}){3}`), digits: true, valid: validIP},
	{kind: IP, re: regexp.MustCompile(`(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}`), wordy: true, valid: validIP6},
	// Discord's <@123> and <@!123>, then @name up to a space or
	// punctuation (WeChat's "@张三 ").
	{kind: Mention, re: regexp.MustCompile(`<@!?\d+>`)},
	{kind: Mention, re: regexp.MustCompile(`@[\p{L}\p{N}_\-]+(?:\.[\p{L}\p{N}_\-]+)*`), valid: func(s string) bool { return s != "@" }},
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// validIDCard checks the ISO 7064 MOD 11-2 check character of an 18
// character resident identity card number, and that its birth date looks
// like one.
func validIDCard(s string) bool {
	if len(s) != 18 {
		return false
	}
	month := (s[10]-'0')*10 + s[11] - '0'
	day := (s[12]-'0')*10 + s[13] - '0'
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(s[i]-'0') * weights[i]
	}
	check := "10X98765432"[sum%11]
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	return last == check
}

// validCard checks that a 13 to 19 digit number passes the Luhn check.
func validCard(s string) bool {
	var digits []int
	for _, r := range s {
		if isDigit(r) {
			digits = append(digits, int(r-'0'))
		}
	}
	if len(digits) < 13 || len(digits) > 19 {
		return false
	}
	sum := 0
	for i := range digits {
		d := digits[len(digits)-1-i]
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// validIntl wants 8 to 15 digits in all, as E.164 allows.
func validIntl(s string) bool {
	n := 0
	for _, r := range s {
		if isDigit(r) {
			n++
		}
	}
	return n >= 8 && n <= 15
}

func validIP(s string) bool { return net.ParseIP(s) != nil }

func validIP6(s string) bool {
	return strings.Count(s, ":") >= 2 && strings.ContainsAny(s, "0123456789abcdefABCDEF") && net.ParseIP(s) != nil
}

// span is one match to replace.
type span struct {
	start, end int
	kind       Kind
}

// find returns the non-overlapping matches in text, earlier kinds first
// where two overlap, in text order.
func find(text string) []span {
	var out []span
	overlaps := func(a, b int) bool {
		for _, s := range out {
			if a < s.end && s.start < b {
				return true
			}
		}
		return false
	}
	for _, d := range detectors {
		for _, m := range d.re.FindAllStringSubmatchIndex(text, -1) {
			a, b := m[2*d.group], m[2*d.group+1]
			if a < 0 || a == b {
				continue
			}
			if d.digits || d.wordy {
				touch := isDigit
				if d.wordy {
					touch = isWord
				}
				if r, _ := utf8.DecodeLastRuneInString(text[:m[0]]); m[0] > 0 && touch(r) {
					continue
				}
				if r, _ := utf8.DecodeRuneInString(text[m[1]:]); m[1] < len(text) && touch(r) {
					continue
				}
			}
			if d.valid != nil && !d.valid(text[a:b]) {
				continue
			}
			if overlaps(a, b) {
				continue
			}
			out = append(out, span{a, b, d.kind})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// Found reports the kinds of personal data in text, one entry per match.
func Found(text string) []Kind {
	var out []Kind
	for _, s := range find(text) {
		out = append(out, s.kind)
	}
	return out
}

// Scrubber replaces personal data, giving each distinct value one
// placeholder until Reset. It is not safe for concurrent use.
type Scrubber struct {
	seen   map[Kind]map[string]string
	counts map[Kind]int
}

// New makes a Scrubber.
func New() *Scrubber {
	return &Scrubber{seen: map[Kind]map[string]string{}, counts: map[Kind]int{}}
}

// Reset forgets the placeholders given so far (the counts stay): call it
// between rows, so that placeholders are consistent within a row.
func (s *Scrubber) Reset() { clear(s.seen) }

func (s *Scrubber) placeholder(k Kind, value string) string {
	m := s.seen[k]
	if m == nil {
		m = map[string]string{}
		s.seen[k] = m
	}
	if p, ok := m[value]; ok {
		return p
	}
	n := len(m) + 1
	var p string
	switch k {
	case Mention:
		p = fmt.Sprintf("@[USER_%d]", n)
	case URLToken:
		p = fmt.Sprintf("[TOKEN_%d]", n)
	default:
		p = fmt.Sprintf("<%s_%d>", strings.ToUpper(string(k)), n)
	}
	m[value] = p
	return p
}

// maxPasses bounds the rescans: replacing a match can, rarely, let a
// neighbour match that an overlap hid.
const maxPasses = 4

// Text returns text with every match replaced by its placeholder.
func (s *Scrubber) Text(text string) string {
	for range maxPasses {
		spans := find(text)
		if len(spans) == 0 {
			return text
		}
		var b strings.Builder
		last := 0
		for _, sp := range spans {
			b.WriteString(text[last:sp.start])
			b.WriteString(s.placeholder(sp.kind, text[sp.start:sp.end]))
			s.counts[sp.kind]++
			last = sp.end
		}
		b.WriteString(text[last:])
		text = b.String()
	}
	return text
}

// Counts is how many matches of each kind were replaced.
func (s *Scrubber) Counts() map[Kind]int {
	out := make(map[Kind]int, len(s.counts))
	for k, n := range s.counts {
		out[k] = n
	}
	return out
}

// Summary describes the counts in a line: "scrubbed 2 email, 1 phone",
// or "nothing to scrub".
func (s *Scrubber) Summary() string {
	var parts []string
	for _, k := range Kinds {
		if n := s.counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "nothing to scrub"
	}
	return "scrubbed " + strings.Join(parts, ", ")
}
