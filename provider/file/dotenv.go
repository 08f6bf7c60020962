package file

import (
	"strconv"
	"strings"

	"github.com/credkit/credkit/credential"
)

// ParseDotenv parses the text of a .env file into its variables. It accepts
// what real .env files contain: blank lines and # comments, an optional
// "export " prefix, spaces around "=", unquoted values (ending at " #" or
// the end of the line, trimmed), single-quoted values (literal, may span
// lines), and double-quoted values (may span lines; \n \r \t \" \\ \$ are
// escapes, other backslashes are kept). A later definition of a key wins.
//
// Errors wrap [credential.ErrInvalid] and name the line, never its content.
func ParseDotenv(text string) (map[string]string, error) {
	vars := map[string]string{}
	text = strings.TrimPrefix(text, "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	line := 1
	i := 0
	bad := func(l int, why string) error {
		return &credential.Error{Kind: credential.ErrInvalid, Reason: "dotenv line " + strconv.Itoa(l) + ": " + why}
	}
	for i < len(text) {
		start := line
		// Skip leading blanks.
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) {
			break
		}
		if text[i] == '\n' {
			i++
			line++
			continue
		}
		if text[i] == '#' {
			for i < len(text) && text[i] != '\n' {
				i++
			}
			continue
		}
		if strings.HasPrefix(text[i:], "export ") || strings.HasPrefix(text[i:], "export\t") {
			i += len("export ")
			for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
				i++
			}
		}
		k := i
		for i < len(text) && isKeyByte(text[i]) {
			i++
		}
		key := text[k:i]
		if key == "" {
			return nil, bad(start, "expected a variable name")
		}
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) || text[i] != '=' {
			return nil, bad(start, "expected = after the variable name")
		}
		i++
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		var value string
		switch {
		case i < len(text) && text[i] == '\'':
			end := strings.IndexByte(text[i+1:], '\'')
			if end < 0 {
				return nil, bad(start, "unterminated single quote")
			}
			value = text[i+1 : i+1+end]
			line += strings.Count(value, "\n")
			i += end + 2
		case i < len(text) && text[i] == '"':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(text) {
				c := text[j]
				if c == '"' {
					closed = true
					j++
					break
				}
				if c == '\\' && j+1 < len(text) {
					switch text[j+1] {
					case 'n':
						b.WriteByte('\n')
					case 'r':
						b.WriteByte('\r')
					case 't':
						b.WriteByte('\t')
					case '"', '\\', '$':
						b.WriteByte(text[j+1])
					default:
						b.WriteByte('\\')
						b.WriteByte(text[j+1])
					}
					j += 2
					continue
				}
				if c == '\n' {
					line++
				}
				b.WriteByte(c)
				j++
			}
			if !closed {
				return nil, bad(start, "unterminated double quote")
			}
			value = b.String()
			i = j
		default:
			e := i
			for e < len(text) && text[e] != '\n' {
				if text[e] == '#' && e > i && (text[e-1] == ' ' || text[e-1] == '\t') {
					break
				}
				e++
			}
			value = strings.TrimSpace(text[i:e])
			i = e
		}
		// The rest of the line may hold only blanks and a comment.
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i < len(text) && text[i] == '#' {
			for i < len(text) && text[i] != '\n' {
				i++
			}
		}
		if i < len(text) && text[i] != '\n' {
			return nil, bad(line, "unexpected text after the value")
		}
		vars[key] = value
	}
	return vars, nil
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
