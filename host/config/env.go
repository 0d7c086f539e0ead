package config

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/larder-dev/larder/host/internal/yamlpos"
)

// expandEnv substitutes ${VAR} and ${VAR:-default} in every scalar value of the tree (keys
// are left alone). Substituting in parsed values rather than in the raw text keeps line
// numbers exact, cannot inject YAML structure through a variable, and ignores comments.
//
// A plain (unquoted) scalar is re-typed after substitution, so `port: ${PG_PORT}` is the
// integer 5432, as it would be had the number been written in place.
func expandEnv(d *yamlpos.Decoder, n *yaml.Node, path string, lookup func(string) (string, bool)) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandEnv(d, c, path, lookup)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(d, n.Content[i+1], yamlpos.Key(path, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(d, c, yamlpos.Index(path, i), lookup)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		v, err := substitute(n.Value, lookup)
		if err != "" {
			d.Errorf(n, path, "%s", err)
			return
		}
		if v == n.Value {
			return
		}
		n.Value = v
		if n.Style == 0 {
			n.Tag = ""
			n.Tag = n.ShortTag()
		}
	}
}

// substitute expands one string. `$${` stands for a literal `${`. It returns a message
// instead of an error so the caller can position it.
func substitute(s string, lookup func(string) (string, bool)) (string, string) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), ""
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", "unterminated ${ in " + quote(s[i:])
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", "invalid environment variable reference " + quote("${"+expr+"}") +
				" (expected ${NAME} or ${NAME:-default})"
		}
		v, ok := lookup(name)
		switch {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", "environment variable " + name + " is not set (use ${" + name + ":-default} for a default)"
		}
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func quote(s string) string { return "\"" + s + "\"" }
