package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits on a config file, checked before the TOML parser sees it: the
// parser's time grows quadratically with nesting (8,000 levels of inline
// tables took 9.8 s, 4,000 dotted key parts 2.8 s), and no real
// configuration comes near these.
const (
	maxConfigBytes = 1 << 20 // 1 MiB
	maxConfigDepth = 32      // nested arrays and inline tables
	maxConfigDots  = 32      // parts of one dotted key or table name
)

// errConfigShape is wrapped by every refusal of checkConfigShape.
var errConfigShape = errors.New("refused before parsing")

// readConfigFile reads at most maxConfigBytes+1 of the file at path and
// refuses a larger one.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d bytes", errConfigShape, maxConfigBytes)
	}
	return data, nil
}

// checkConfigShape scans TOML text once, outside strings and comments,
// and refuses nesting deeper than maxConfigDepth and keys of more than
// maxConfigDots dotted parts. It does not validate TOML: the parser does
// that afterwards, on text now known to be cheap to parse.
func checkConfigShape(data []byte) error {
	depth, dots, line := 0, 0, 1
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\n':
			line++
			dots = 0
		case '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
			i-- // the newline is counted by the loop
		case '"', '\'':
			end, lines, ok := skipString(data, i)
			if !ok {
				return nil // unterminated: the parser says so
			}
			i, line = end, line+lines
		case '[', '{':
			depth++
			if depth > maxConfigDepth {
				return fmt.Errorf("%w: line %d: arrays or inline tables nested more than %d deep", errConfigShape, line, maxConfigDepth)
			}
			if c == '{' {
				dots = 0
			}
		case ']', '}':
			depth = max(depth-1, 0)
		case '=', ',':
			dots = 0
		case '.':
			dots++
			if dots > maxConfigDots {
				return fmt.Errorf("%w: line %d: a key with more than %d dotted parts", errConfigShape, line, maxConfigDots+1)
			}
		}
	}
	return nil
}

// skipString returns the index of the last byte of the string starting at
// data[i] (basic or literal, one-line or multi-line) and how many newlines
// it holds.
func skipString(data []byte, i int) (end, lines int, ok bool) {
	q := data[i]
	triple := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if triple {
		for j := i + 3; j+2 < len(data); j++ {
			switch {
			case data[j] == '\\' && q == '"':
				j++
				if j < len(data) && data[j] == '\n' {
					lines++
				}
			case data[j] == '\n':
				lines++
			case data[j] == q && data[j+1] == q && data[j+2] == q:
				// Up to two more quotes may close the string ("""a"""").
				k := j + 2
				for n := 0; n < 2 && k+1 < len(data) && data[k+1] == q; n++ {
					k++
				}
				return k, lines, true
			}
		}
		return 0, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch {
		case data[j] == '\\' && q == '"':
			j++
		case data[j] == '\n':
			return 0, 0, false
		case data[j] == q:
			return j, 0, true
		}
	}
	return 0, 0, false
}
