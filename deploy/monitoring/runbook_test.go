package monitoring_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// awaitingHeadings are runbook anchors the alerts use before
// docs/OPERATIONS.md has their headings (anchor: the heading to add). The
// test fails once a listed heading exists, so that the entry is deleted and
// the anchor is checked like the others from then on.
var awaitingHeadings = map[string]string{}

var atxHeading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, punctuation other than - and _ removed,
// spaces as hyphens, -1, -2... after repeats. Fenced code is skipped.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	counts := map[string]int{}
	fence := ""
	for _, l := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(l)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		m := atxHeading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		slug := githubSlug(m[1])
		if n := counts[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		counts[slug]++
	}
	return anchors
}

func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestGitHubSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"The backlog grows":                             "the-backlog-grows",
		"A worker logs `waiting for a connection slot`": "a-worker-logs-waiting-for-a-connection-slot",
		"PostgreSQL restarted (or a worker logs `postgres session lost mid-batch`)": "postgresql-restarted-or-a-worker-logs-postgres-session-lost-mid-batch",
		"PostgreSQL sessions near max_connections":                                  "postgresql-sessions-near-max_connections",
	} {
		if got := githubSlug(heading); got != want {
			t.Errorf("githubSlug(%q) = %q, want %q", heading, got, want)
		}
	}
	doc := "# Ops\n```sh\n# not a heading\n```\n## Runbooks\n### Same\n### Same\n"
	got := markdownAnchors(doc)
	for _, a := range []string{"ops", "runbooks", "same", "same-1"} {
		if !got[a] {
			t.Errorf("markdownAnchors: no %q in %v", a, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("markdownAnchors took a comment in fenced code for a heading")
	}
}

// Every runbook_url points at a heading of docs/OPERATIONS.md.
func TestRunbookAnchorsResolve(t *testing.T) {
	rules, err := parseRules(readRepoFile(t, rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	headings := markdownAnchors(readRepoFile(t, operationsDoc))
	used := map[string]bool{}
	for _, r := range rules {
		anchor, ok := strings.CutPrefix(r.annotations["runbook_url"], runbookPrefix)
		if r.alert == "" || !ok {
			continue // TestRules reports a missing or foreign runbook_url
		}
		used[anchor] = true
		_, awaiting := awaitingHeadings[anchor]
		switch {
		case headings[anchor] && awaiting:
			t.Errorf("%s now has the heading of #%s: delete it from awaitingHeadings in deploy/monitoring/runbook_test.go", operationsDoc, anchor)
		case !headings[anchor] && !awaiting:
			t.Errorf("%s: runbook_url anchor #%s is no heading of %s", r.alert, anchor, operationsDoc)
		}
	}
	for anchor := range awaitingHeadings {
		if !used[anchor] {
			t.Errorf("awaitingHeadings lists #%s, which no alert uses: delete it", anchor)
		}
	}
}
